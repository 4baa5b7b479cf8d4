import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { proxyFor } from '../../../src/worker/files/_proxy.js';
import { openUpstream, type UpstreamFile } from '../../../src/worker/files/upstream.js';
import { createDestinationGuard } from '../../../src/worker/net/destinations.js';
import { testDestinations } from '../../helpers/destinations.js';
import { startConnectProxy, type ConnectProxy } from '../../helpers/connect-proxy.js';
import { startFileUpstream, type FileUpstream } from '../../helpers/file-upstream.js';

// The embedded stack runs on a user's machine and honours their HTTPS_PROXY / HTTP_PROXY / NO_PROXY; a real
// local proxy (test/helpers/connect-proxy.ts) sends every name to 127.0.0.1, so `files.test` is reachable only through it.

let proxy: ConnectProxy;
let files: FileUpstream;
let tls: Server;
let temp: string;

beforeAll(async () => {
  proxy = await startConnectProxy();
  files = await startFileUpstream();
  files.serve('/app.bin', { body: Buffer.from('through the proxy') });
  temp = await mkdtemp(join(tmpdir(), 'ferry-proxy-'));
  // A self-signed https server: its certificate is not trusted, which shows TLS runs end to end inside the tunnel.
  await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=files.test', '-days', '1', '-keyout', join(temp, 'key.pem'), '-out', join(temp, 'cert.pem')]);
  tls = createHttpsServer({ key: await readFile(join(temp, 'key.pem')), cert: await readFile(join(temp, 'cert.pem')) }, (_req, res) => res.end('secret'));
  await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await proxy?.close();
  await files?.close();
  await new Promise((resolve) => tls?.close(resolve));
  await rm(temp, { recursive: true, force: true });
});

const port = (url: string): string => new URL(url).port;
const options = (env: NodeJS.ProcessEnv) => ({ checkUrl: () => undefined, destinations: createDestinationGuard({ allowed: testDestinations }), maxBytes: 1 << 20, env });

async function text(file: UpstreamFile): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of file.body) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe('file requests through the user\'s proxy', () => {
  it('sends http requests to HTTP_PROXY in absolute form', async () => {
    const url = `http://files.test:${port(files.url('/'))}/app.bin`;
    const file = await openUpstream(url, options({ HTTP_PROXY: proxy.url }));
    expect(await text(file)).toBe('through the proxy');
    expect(proxy.seen).toContain(`GET ${url}`);
  });

  it('tunnels https through HTTPS_PROXY with CONNECT, TLS end to end with the upstream', async () => {
    const tlsPort = (tls.address() as AddressInfo).port;
    const error = await openUpstream(`https://files.test:${tlsPort}/x`, options({ https_proxy: proxy.url })).catch((e: unknown) => e);
    expect(proxy.seen).toContain(`CONNECT files.test:${tlsPort}`);
    // The upstream's own (self-signed) certificate reached us through the tunnel and was checked.
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).message).toMatch(/TLS handshake with files\.test/);
  });

  it('goes direct for hosts in NO_PROXY', async () => {
    const before = proxy.seen.length;
    const file = await openUpstream(files.url('/app.bin'), options({ HTTP_PROXY: proxy.url, NO_PROXY: 'example.org,127.0.0.1' }));
    expect(await text(file)).toBe('through the proxy');
    expect(proxy.seen.length).toBe(before);
  });

  it('says so when the proxy cannot be reached', async () => {
    const error = await openUpstream('https://files.test/x', options({ HTTPS_PROXY: 'http://127.0.0.1:1' })).catch((e: unknown) => e);
    expect((error as FerryError).code).toBe('UPSTREAM_UNREACHABLE');
    expect((error as FerryError).message).toMatch(/Could not reach the proxy 127\.0\.0\.1:1 \(HTTPS_PROXY\): ECONNREFUSED/);
  });
});

describe('proxyFor reads the variables as curl does', () => {
  it.each([
    ['https://github.com/a', { HTTPS_PROXY: 'http://p:3128' }, 'http://p:3128/'],
    ['https://github.com/a', { https_proxy: 'p:3128' }, 'http://p:3128/'],
    ['https://github.com/a', { HTTP_PROXY: 'http://p:3128' }, undefined],
    ['http://github.com/a', { HTTP_PROXY: 'http://p:3128' }, 'http://p:3128/'],
    ['https://github.com/a', { ALL_PROXY: 'http://p:1' }, 'http://p:1/'],
    ['https://github.com/a', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'github.com' }, undefined],
    ['https://api.github.com/a', { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.github.com' }, undefined],
    ['https://notgithub.com/a', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'github.com' }, 'http://p:1/'],
    ['https://github.com/a', { HTTPS_PROXY: 'http://p:1', no_proxy: '*' }, undefined],
    ['https://github.com/a', { HTTPS_PROXY: 'http://p:1', NO_PROXY: 'github.com:8443' }, 'http://p:1/'],
    ['https://github.com/a', {}, undefined],
  ])('%s with %j → %s', (url, env, expected) => {
    expect(proxyFor(new URL(url), env)?.href).toBe(expected);
  });

  it('refuses a proxy it cannot speak to', () => {
    expect(() => proxyFor(new URL('https://github.com/a'), { HTTPS_PROXY: 'socks5://p:1080' })).toThrow(/Only http:\/\/ proxies/);
  });
});
