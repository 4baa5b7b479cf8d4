// The SSRF guard on file downloads (node:http, every redirect hop), against real loopback servers. The
// guard's resolver is injected to answer as a hostile DNS would; `localhost` is the name, so a connection
// that escaped the guard would reach a server here through the machine's own DNS and be counted.
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { openUpstream, type UpstreamFile } from '../../../src/worker/files/upstream.js';
import { createDestinationGuard, type ResolvedAddress, type Resolver } from '../../../src/worker/net/destinations.js';
import { startFileUpstream, type FileUpstream } from '../../helpers/file-upstream.js';

const started: FileUpstream[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.close()));
});

async function upstream(options: Parameters<typeof startFileUpstream>[0] = {}): Promise<FileUpstream> {
  const server = await startFileUpstream(options);
  started.push(server);
  return server;
}

/** Answers from `answers` by name; a name may get a different answer on each later question (`[first, then]`). */
function dns(answers: Record<string, string | [string, string]>): Resolver {
  const asked = new Map<string, number>();
  return async (hostname) => {
    const entry = answers[hostname];
    if (entry === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const count = asked.get(hostname) ?? 0;
    asked.set(hostname, count + 1);
    const address = typeof entry === 'string' ? entry : count === 0 ? entry[0] : entry[1];
    return [{ address, family: address.includes(':') ? 6 : 4 } satisfies ResolvedAddress];
  };
}

const open = (url: string, resolve: Resolver, allowed: string[] = []): Promise<UpstreamFile> =>
  openUpstream(url, { checkUrl: () => undefined, maxBytes: 1 << 20, destinations: createDestinationGuard({ allowed, resolve }), env: {} });

async function refusal(promise: Promise<unknown>): Promise<FerryError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FerryError);
  return error as FerryError;
}

async function text(file: UpstreamFile): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of file.body) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe('file downloads and the SSRF guard', () => {
  it.each([['127.0.0.1'], ['100.100.100.200'], ['169.254.169.254'], ['::1']])(
    'a file whose host resolves to %s is refused with DESTINATION_FORBIDDEN before any request',
    async (address) => {
      const files = await upstream({ hostname: 'localhost', address: '127.0.0.1' });
      files.serve('/tool.bin', { body: Buffer.from('internal') });
      const error = await refusal(open(files.url('/tool.bin'), dns({ localhost: address })));
      expect(error.code).toBe('DESTINATION_FORBIDDEN');
      expect(error.status).toBe(403);
      expect(error.message).toContain(files.host);
      expect(files.count('/tool.bin')).toBe(0);
    },
  );

  it.each([
    ['loopback by address', (inner: FileUpstream) => inner.url('/secret')],
    ['loopback by a name', (inner: FileUpstream) => `http://inner.test:${new URL(inner.url('/')).port}/secret`],
    ['the metadata service', () => 'http://100.100.100.200/latest/meta-data/'],
    ['the metadata service by a name', () => 'http://metadata.test/latest/meta-data/'],
    ['link-local metadata, spelled in decimal', () => 'http://2852039166/latest/meta-data/'],
    ['IPv4-mapped metadata', () => 'http://[::ffff:a9fe:a9fe]/latest/meta-data/'],
  ])('a redirect from an allowed host to %s is refused at that hop', async (_name, target) => {
    const allowedHost = await upstream();
    const inner = await upstream();
    inner.serve('/secret', { body: Buffer.from('internal') });
    allowedHost.redirect('/download', target(inner));
    const resolve = dns({ 'inner.test': '127.0.0.1', 'metadata.test': '100.100.100.200' });
    const error = await refusal(open(allowedHost.url('/download'), resolve, [allowedHost.host]));
    expect(error.code).toBe('DESTINATION_FORBIDDEN');
    expect(allowedHost.count('/download')).toBe(1);
    expect(inner.count('/secret')).toBe(0);
  });

  it('a redirect to an allowed destination is followed, checked at its hop', async () => {
    const first = await upstream();
    const second = await upstream({ hostname: 'localhost', address: '127.0.0.1' });
    second.serve('/asset', { body: Buffer.from('the asset') });
    first.redirect('/download', second.url('/asset'));
    const file = await open(first.url('/download'), dns({ localhost: '127.0.0.1' }), [first.host, second.host]);
    expect(await text(file)).toBe('the asset');
  });

  it('DNS rebinding: a name allowed at check time connects to the checked address, never to the next answer', async () => {
    const good = await upstream({ hostname: 'localhost', address: '127.0.0.2' });
    const port = Number(new URL(good.url('/')).port);
    const evil = await upstream({ hostname: 'localhost', address: '127.0.0.1', port });
    good.serve('/tool.bin', { body: Buffer.from('the real file') });
    evil.serve('/tool.bin', { body: Buffer.from('from the inside') });
    const resolve = dns({ localhost: ['127.0.0.2', '127.0.0.1'] });
    const file = await open(`http://localhost:${port}/tool.bin`, resolve, [`127.0.0.2:${port}`]);
    expect(await text(file)).toBe('the real file');
    expect(evil.count('/tool.bin')).toBe(0);
    // The next connection asks again, gets the rebound answer, and is refused.
    expect((await refusal(open(`http://localhost:${port}/tool.bin`, resolve, [`127.0.0.2:${port}`]))).code).toBe('DESTINATION_FORBIDDEN');
    expect(evil.count('/tool.bin')).toBe(0);
  });
});
