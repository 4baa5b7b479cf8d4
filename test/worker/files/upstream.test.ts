import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { filenameFromDisposition } from '../../../src/worker/files/_disposition.js';
import { openUpstream, type UpstreamFile, type UpstreamOptions } from '../../../src/worker/files/upstream.js';
import { createDestinationGuard } from '../../../src/worker/net/destinations.js';
import { allowTestDestination, testDestinations } from '../../helpers/destinations.js';
import { generatedSha256, localResolver, someBytes, startFileUpstream, type FileUpstream } from '../../helpers/file-upstream.js';

const MiB = 1024 * 1024;
let github: FileUpstream;
let assets: FileUpstream;

beforeEach(async () => {
  github = await startFileUpstream();
  // A second host, as release assets redirect from github.com to objects.githubusercontent.com.
  assets = await startFileUpstream({ hostname: 'localhost' });
});

afterEach(async () => {
  await Promise.all([github.close(), assets.close()]);
});

/** The policy a worker applies: only hosts on the list, checked for each hop. */
function allowOnly(...hosts: string[]): { checkUrl: (url: URL) => void; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    checkUrl: (url) => {
      seen.push(url.host);
      if (!hosts.includes(url.host)) throw new FerryError('HOST_NOT_ALLOWED', `${url.host} is not allowed.`);
    },
  };
}

function options(extra: Partial<UpstreamOptions> = {}): UpstreamOptions {
  return { checkUrl: allowOnly(github.host, assets.host).checkUrl, destinations: createDestinationGuard({ allowed: testDestinations }), maxBytes: 512 * MiB, ...extra };
}

async function readAll(file: UpstreamFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of file.body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function sha256Of(file: UpstreamFile): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of file.body) hash.update(chunk);
  return hash.digest('hex');
}

async function failure(promise: Promise<unknown>): Promise<FerryError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(FerryError);
  return error as FerryError;
}

describe('openUpstream', () => {
  it('streams the file with its size, validators, type and the filename from Content-Disposition', async () => {
    const body = someBytes(300 * 1024);
    github.serve('/o/r/raw/main/data.bin', {
      body,
      contentType: 'application/x-thing',
      contentDisposition: `attachment; filename="fallback.bin"; filename*=UTF-8''%E6%95%B0%E6%8D%AE.bin`,
    });
    const file = await openUpstream(github.url('/o/r/raw/main/data.bin'), options());
    expect(file).toMatchObject({ status: 200, size: body.length, contentType: 'application/x-thing', filename: '数据.bin' });
    expect(file.finalUrl).toBe(github.url('/o/r/raw/main/data.bin'));
    expect(file.etag).toMatch(/^"/);
    expect(file.lastModified).toMatch(/GMT$/);
    expect((await readAll(file)).equals(body)).toBe(true);
    expect(github.requests('/o/r/raw/main/data.bin')[0]?.headers['accept-encoding']).toBe('identity');
  });

  it('streams a large generated file without Content-Length', async () => {
    github.serve('/big', { size: 20 * MiB, seed: 3, chunked: true });
    const file = await openUpstream(github.url('/big'), options());
    expect(file.size).toBeUndefined();
    expect(await sha256Of(file)).toBe(generatedSha256(20 * MiB, 3));
  });

  it('follows a release asset to a second host, checking each hop before connecting', async () => {
    const body = someBytes(4096);
    assets.serve('/asset/1', { body, contentDisposition: 'attachment; filename=app-linux.tar.gz' });
    github.redirect('/o/r/releases/download/v1/app.tar.gz', `${assets.url('/asset/1')}?sig=abc`);
    const policy = allowOnly(github.host, assets.host);
    const file = await openUpstream(github.url('/o/r/releases/download/v1/app.tar.gz'), options({ checkUrl: policy.checkUrl }));
    expect(policy.seen).toEqual([github.host, assets.host]);
    expect(file.finalUrl).toBe(`${assets.url('/asset/1')}?sig=abc`);
    expect(file.filename).toBe('app-linux.tar.gz');
    expect((await readAll(file)).equals(body)).toBe(true);
  });

  it('refuses a redirect to a host the policy refuses, without a request reaching it', async () => {
    assets.serve('/asset/1', { body: someBytes(10) });
    github.redirect('/o/r/releases/download/v1/app', assets.url('/asset/1'));
    const error = await failure(openUpstream(github.url('/o/r/releases/download/v1/app'), options({ checkUrl: allowOnly(github.host).checkUrl })));
    expect(error.code).toBe('HOST_NOT_ALLOWED');
    expect(assets.count('/asset/1')).toBe(0);
  });

  it('stops after 5 redirects', async () => {
    for (let i = 0; i < 7; i++) github.redirect(`/r${i}`, github.url(`/r${i + 1}`));
    const error = await failure(openUpstream(github.url('/r0'), options()));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toMatch(/more than 5 times/);
    expect(github.count('/r6')).toBe(0);
  });

  it('resumes a connection cut at byte N with Range and If-Range, from the final URL, byte-identical', async () => {
    github.redirect('/o/r/releases/download/v1/big.bin', assets.url('/asset/big'));
    assets.serve('/asset/big', { size: 3 * MiB, seed: 1 });
    assets.cut('/asset/big', MiB + 7);
    const resumes: { bytes: number; attempt: number }[] = [];
    const file = await openUpstream(github.url('/o/r/releases/download/v1/big.bin'), options({ onResume: ({ bytes, attempt }) => resumes.push({ bytes, attempt }) }));
    expect(await sha256Of(file)).toBe(generatedSha256(3 * MiB, 1));
    expect(resumes).toEqual([{ bytes: MiB + 7, attempt: 1 }]);
    const [, resumed] = assets.requests('/asset/big');
    expect(resumed?.headers.range).toBe(`bytes=${MiB + 7}-`);
    expect(resumed?.headers['if-range']).toBe(file.etag);
    // The redirecting host is not asked again: the resume goes where the bytes came from.
    expect(github.count('/o/r/releases/download/v1/big.bin')).toBe(1);
  });

  it('asks the first URL again when the final one (a signed URL) stopped answering', async () => {
    github.redirect('/o/r/releases/download/v1/big.bin', assets.url('/asset/big'));
    assets.serve('/asset/big', { size: 2 * MiB, seed: 7 });
    assets.cut('/asset/big', 4321);
    const reasons: string[] = [];
    const onResume = ({ reason }: { reason: string }): void => {
      reasons.push(reason);
      // The signed URL expired between the cut and the resume.
      if (reasons.length === 1) assets.respond('/asset/big', 403, { times: 1 });
    };
    const file = await openUpstream(github.url('/o/r/releases/download/v1/big.bin'), options({ onResume }));
    expect(await sha256Of(file)).toBe(generatedSha256(2 * MiB, 7));
    expect(reasons[1]).toMatch(/answered 403/);
    expect(github.count('/o/r/releases/download/v1/big.bin')).toBe(2);
    expect(github.requests('/o/r/releases/download/v1/big.bin')[1]?.headers.range).toBe('bytes=4321-');
    expect(assets.requests('/asset/big').map((request) => request.headers.range)).toEqual([undefined, 'bytes=4321-', 'bytes=4321-']);
  });

  it('ends a chunked body whose every byte arrived before the connection broke (416 on the resume)', async () => {
    github.serve('/whole', { size: 100_000, chunked: true });
    github.cut('/whole', 100_000);
    const file = await openUpstream(github.url('/whole'), options());
    expect(await sha256Of(file)).toBe(generatedSha256(100_000));
    expect(github.requests('/whole')[1]?.headers.range).toBe('bytes=100000-');
  });

  it('resumes a chunked response (no Content-Length) cut in the middle', async () => {
    github.serve('/chunked', { size: 2 * MiB, seed: 2, chunked: true });
    github.cut('/chunked', 123_457);
    const file = await openUpstream(github.url('/chunked'), options());
    expect(await sha256Of(file)).toBe(generatedSha256(2 * MiB, 2));
    expect(github.requests('/chunked')[1]?.headers.range).toBe('bytes=123457-');
  });

  it('resumes with If-Range: <Last-Modified> when there is no ETag', async () => {
    github.serve('/dated', { size: MiB, etag: false });
    github.cut('/dated', 1000);
    const file = await openUpstream(github.url('/dated'), options());
    expect(await sha256Of(file)).toBe(generatedSha256(MiB));
    expect(github.requests('/dated')[1]?.headers['if-range']).toBe(file.lastModified);
  });

  it('resumes a stalled response', async () => {
    github.serve('/slow', { size: MiB, seed: 4 });
    github.cut('/slow', 5000, { mode: 'stall' });
    const reasons: string[] = [];
    const file = await openUpstream(github.url('/slow'), options({ idleTimeoutMs: 300, onResume: ({ reason }) => reasons.push(reason) }));
    expect(await sha256Of(file)).toBe(generatedSha256(MiB, 4));
    expect(reasons).toEqual([expect.stringMatching(/stopped sending/)]);
  });

  it('does not stitch a file that changed between the cut and the resume', async () => {
    github.serve('/moving', { size: MiB, seed: 5 });
    github.cut('/moving', 10_000, { thenServe: { size: MiB, seed: 6 } });
    const file = await openUpstream(github.url('/moving'), options());
    const error = await failure(readAll(file));
    expect(error.code).toBe('UPSTREAM_CHANGED');
    expect(error.message).toContain(github.url('/moving'));
    // The resume was asked, and answered with the whole new file rather than its second half.
    expect(github.requests('/moving')[1]?.headers.range).toBe('bytes=10000-');
  });

  it('gives up after 3 resumes', async () => {
    github.serve('/flaky', { size: MiB });
    github.cut('/flaky', 1000, { times: Infinity });
    const attempts: number[] = [];
    const file = await openUpstream(github.url('/flaky'), options({ onResume: ({ attempt }) => attempts.push(attempt) }));
    const error = await failure(readAll(file));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toMatch(/broke off 4 times/);
    expect(attempts).toEqual([1, 2, 3]);
  });

  it('does not resume a file that has no validator', async () => {
    github.serve('/bare', { size: MiB, etag: false, lastModified: false });
    github.cut('/bare', 1000);
    const file = await openUpstream(github.url('/bare'), options());
    const error = await failure(readAll(file));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toMatch(/neither a strong ETag nor Last-Modified/);
    expect(github.count('/bare')).toBe(1);
  });

  it('refuses a file larger than maxBytes from its Content-Length, before reading the body', async () => {
    github.serve('/huge', { size: 200 * MiB });
    const error = await failure(openUpstream(github.url('/huge'), options({ maxBytes: MiB })));
    expect(error.code).toBe('TOO_LARGE');
    expect(error.message).toMatch(/is 209715200 bytes/);
  });

  it('refuses a file without Content-Length once it passes maxBytes', async () => {
    github.serve('/endless', { size: 8 * MiB, chunked: true });
    const file = await openUpstream(github.url('/endless'), options({ maxBytes: MiB }));
    let received = 0;
    const error = await failure(
      (async () => {
        for await (const chunk of file.body) received += chunk.length;
      })(),
    );
    expect(error.code).toBe('TOO_LARGE');
    expect(received).toBeLessThanOrEqual(MiB);
  });

  it('answers 304 to a conditional request for an unchanged file, and 200 once it changed', async () => {
    github.serve('/o/r/main/README.md', { body: Buffer.from('v1') });
    const first = await openUpstream(github.url('/o/r/main/README.md'), options());
    await readAll(first);

    const byEtag = await openUpstream(github.url('/o/r/main/README.md'), options({ conditional: { etag: first.etag as string } }));
    expect(byEtag).toMatchObject({ status: 304, etag: first.etag });
    expect(await readAll(byEtag)).toHaveLength(0);
    const byDate = await openUpstream(github.url('/o/r/main/README.md'), options({ conditional: { lastModified: first.lastModified as string } }));
    expect(byDate.status).toBe(304);
    const [, etagAsk, dateAsk] = github.requests('/o/r/main/README.md');
    expect(etagAsk?.headers['if-none-match']).toBe(first.etag);
    expect(dateAsk?.headers['if-modified-since']).toBe(first.lastModified);

    github.serve('/o/r/main/README.md', { body: Buffer.from('v2') });
    const changed = await openUpstream(github.url('/o/r/main/README.md'), options({ conditional: { etag: first.etag as string } }));
    expect(changed.status).toBe(200);
    expect((await readAll(changed)).toString()).toBe('v2');
  });

  it('reports upstream 404 and 410 as NOT_FOUND naming the URL, 403 as a private file', async () => {
    const missing = await failure(openUpstream(github.url('/o/r/raw/main/nope'), options()));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain(github.url('/o/r/raw/main/nope'));
    github.respond('/gone', 410);
    expect((await failure(openUpstream(github.url('/gone'), options()))).code).toBe('NOT_FOUND');
    github.respond('/private', 403);
    const forbidden = await failure(openUpstream(github.url('/private'), options()));
    expect(forbidden.message).toMatch(/private or needs a login/);
    github.respond('/broken', 503);
    const broken = await failure(openUpstream(github.url('/broken'), options()));
    expect(broken.code).toBe('UPSTREAM_UNREACHABLE');
    expect(broken.message).toMatch(/503/);
  });

  it('says precisely why a host is unreachable', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await new Promise((resolve) => closed.once('listening', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    allowTestDestination(`127.0.0.1:${port}`);
    const refused = await failure(openUpstream(`http://127.0.0.1:${port}/file`, options({ checkUrl: () => undefined })));
    expect(refused.code).toBe('UPSTREAM_UNREACHABLE');
    expect(refused.message).toMatch(new RegExp(`^127\\.0\\.0\\.1:${port} refused the connection`));
    expect(refused.message).not.toMatch(/try again/i);

    const unresolved = await failure(openUpstream('http://nothing.invalid/file', options({ checkUrl: () => undefined })));
    expect(unresolved.code).toBe('UPSTREAM_UNREACHABLE');
    expect(unresolved.message).toMatch(/nothing\.invalid could not be resolved \(DNS\)/);
    expect(unresolved.message).not.toMatch(/try again/i);
  });

  it("connects where the SSRF guard's resolver says a name goes", async () => {
    const local = await startFileUpstream({ hostname: 'objects.githubusercontent.test' });
    try {
      local.serve('/x', { body: Buffer.from('via lookup') });
      const file = await openUpstream(local.url('/x'), options({ checkUrl: () => undefined, destinations: createDestinationGuard({ allowed: testDestinations, resolve: localResolver }) }));
      expect((await readAll(file)).toString()).toBe('via lookup');
    } finally {
      await local.close();
    }
  });

  it('stops when its signal is aborted, with the reason given', async () => {
    github.serve('/held', { size: MiB });
    github.cut('/held', 1000, { mode: 'stall' });
    const controller = new AbortController();
    const file = await openUpstream(github.url('/held'), options({ signal: controller.signal }));
    const reading = readAll(file);
    controller.abort(new FerryError('WORKER_STOPPING', 'The instance is stopping.'));
    expect((await failure(reading)).code).toBe('WORKER_STOPPING');
    expect(github.count('/held')).toBe(1);
  });

  it('cancel() stops the body and releases the socket', async () => {
    github.serve('/cancel', { size: 8 * MiB });
    const file = await openUpstream(github.url('/cancel'), options());
    let received = 0;
    for await (const chunk of file.body) {
      received += chunk.length;
      file.cancel();
    }
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(8 * MiB);
  });
});

describe('filenameFromDisposition', () => {
  it.each([
    [undefined, undefined],
    ['inline', undefined],
    ['attachment; filename=app.tar.gz', 'app.tar.gz'],
    ['attachment; filename="my app.zip"', 'my app.zip'],
    ['attachment; filename="a \\"quoted\\" name.txt"', 'a _quoted_ name.txt'],
    [`attachment; filename="fallback.bin"; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf`, '报告.pdf'],
    [`attachment; filename*=utf-8''na%C3%AFve.txt`, 'naïve.txt'],
    [`attachment; filename*=iso-8859-1'en'caf%E9.txt`, 'café.txt'],
    [`attachment; filename*=UTF-8''%E0%A4%A; filename=plain.txt`, 'plain.txt'],
    ['attachment; filename="../../etc/passwd"', '_.._etc_passwd'],
    ['attachment; filename=".bashrc"', 'bashrc'],
  ])('%j → %j', (header, expected) => {
    expect(filenameFromDisposition(header)).toBe(expected);
  });
});
