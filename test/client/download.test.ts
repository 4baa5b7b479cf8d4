/**
 * download.ts's one-connection path (files below 2 MiB, or of a size nobody announced) against a real
 * node:http server that speaks Range and can cut a response mid-body (a real dropped connection, not
 * a mock). The parallel path: download-parallel.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { download, type DownloadRetry } from '../../src/client/download.js';

const body = randomBytes(1536 * 1024 + 123);
const sha256 = createHash('sha256').update(body).digest('hex');

let server: Server;
let base: string;
let work: string;
/** Per-path behaviour, set by each test. */
let behave: (req: IncomingMessage, res: ServerResponse, count: number) => void;
let requests: { range: string | undefined }[] = [];

/** Serves `body`, honouring `Range: bytes=N-`; `cutAfter` destroys the socket after that many body bytes. */
function serve(req: IncomingMessage, res: ServerResponse, options: { cutAfter?: number; ignoreRange?: boolean; data?: Buffer } = {}): void {
  const data = options.data ?? body;
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = match && !options.ignoreRange ? Number(match[1]) : 0;
  const slice = data.subarray(start);
  const headers: Record<string, string | number> = { 'content-type': 'application/zip', 'content-length': slice.length, 'accept-ranges': 'bytes' };
  if (start > 0) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
  res.writeHead(start > 0 ? 206 : 200, headers);
  if (options.cutAfter === undefined) return void res.end(slice);
  res.write(slice.subarray(0, options.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-download-'));
  server = createServer((req, res) => {
    requests.push({ range: req.headers.range });
    behave(req, res, requests.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
});

describe('download', () => {
  it('resumes with Range after the connection is cut mid-body, and verifies the whole file', async () => {
    behave = (req, res, count) => serve(req, res, count === 1 ? { cutAfter: 1024 * 1024 } : {});
    const dest = join(work, 'resumed.zip');
    const retries: DownloadRetry[] = [];
    let lastProgress = 0;
    const result = await download({ url: `${base}/a.zip`, dest, sha256, size: body.length, backoffMs: 10, onRetry: (r) => retries.push(r), onProgress: (p) => (lastProgress = p.bytes) });
    expect(result).toEqual({ path: dest, size: body.length, sha256 });
    expect((await readFile(dest)).equals(body)).toBe(true);
    expect(requests).toHaveLength(2);
    expect(requests[0]!.range).toBeUndefined();
    // The second request asks for exactly what is missing: nothing fetched twice.
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(1024 * 1024);
    expect(retries).toHaveLength(1);
    expect(retries[0]!.bytes).toBe(resumedAt);
    expect(lastProgress).toBe(body.length);
    expect(await readdir(work)).not.toContain('resumed.zip.part');
  });

  it('starts over when the server ignores Range (200 instead of 206)', async () => {
    behave = (req, res, count) => serve(req, res, count === 1 ? { cutAfter: 500_000 } : { ignoreRange: true });
    const dest = join(work, 'restarted.zip');
    await download({ url: `${base}/b.zip`, dest, sha256, size: body.length, backoffMs: 10 });
    expect((await readFile(dest)).equals(body)).toBe(true);
    expect(requests).toHaveLength(2);
  });

  it('detects a checksum mismatch and leaves no file behind', async () => {
    behave = (req, res) => serve(req, res);
    const dest = join(work, 'bad.zip');
    await expect(download({ url: `${base}/c.zip`, dest, sha256: 'f'.repeat(64), size: body.length })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    const left = await readdir(work);
    expect(left).not.toContain('bad.zip');
    expect(left).not.toContain('bad.zip.part');
  });

  it('gives up on a 403 (expired URL) at once, and after N failures in a row otherwise', async () => {
    behave = (_req, res) => res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
    await expect(download({ url: `${base}/d.zip`, dest: join(work, 'denied.zip'), sha256 })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: expect.stringMatching(/403.*expired/) });
    expect(requests).toHaveLength(1);

    requests = [];
    behave = (req, res) => serve(req, res, { cutAfter: 0 });
    await expect(download({ url: `${base}/e.zip`, dest: join(work, 'cut.zip'), sha256, size: body.length, retries: 2, backoffMs: 5 })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
    expect(requests).toHaveLength(3);
    expect(await readdir(work)).not.toContain('cut.zip.part');
  });

  it('stops at once when aborted during a retry backoff, and leaves no file behind', async () => {
    behave = (req, res, count) => serve(req, res, count === 1 ? { cutAfter: 64 * 1024 } : {});
    const controller = new AbortController();
    const result = download({
      url: `${base}/g.zip`, dest: join(work, 'aborted.zip'), sha256, size: body.length, backoffMs: 30_000,
      onRetry: () => setTimeout(() => controller.abort(), 50),
      signal: controller.signal,
    });
    await expect(result).rejects.toMatchObject({ code: 'TIMEOUT' });
    // Had the abort waited for the backoff, the retry would have been made (and would have succeeded).
    expect(requests).toHaveLength(1);
    expect(await readdir(work)).not.toContain('aborted.zip.part');
  });

  it('resumes a stalled response after the idle timeout', async () => {
    behave = (req, res, count) => {
      if (count === 1) {
        res.writeHead(200, { 'content-length': body.length });
        res.write(body.subarray(0, 4096)); // then nothing: a stall
      } else serve(req, res);
    };
    const dest = join(work, 'stalled.zip');
    await download({ url: `${base}/f.zip`, dest, sha256, size: body.length, idleTimeoutMs: 300, backoffMs: 10 });
    expect((await readFile(dest)).equals(body)).toBe(true);
    expect(requests[1]!.range).toBe('bytes=4096-');
  });

  it('resumes a body larger than the write buffer without losing queued writes', async () => {
    // Bigger than the 8 MiB of writes download() queues before pausing the response; cut past that point.
    // No size given: one connection, in order.
    const big = randomBytes(12 * 1024 * 1024 + 7);
    const bigSha = createHash('sha256').update(big).digest('hex');
    behave = (req, res, count) => serve(req, res, count === 1 ? { data: big, cutAfter: 9 * 1024 * 1024 } : { data: big });
    const dest = join(work, 'big.zip');
    const progress: number[] = [];
    const result = await download({ url: `${base}/big.zip`, dest, sha256: bigSha, backoffMs: 10, onProgress: (p) => progress.push(p.bytes) });
    expect(result).toEqual({ path: dest, size: big.length, sha256: bigSha });
    expect((await readFile(dest)).equals(big)).toBe(true);
    expect(requests).toHaveLength(2);
    expect(progress.at(-1)).toBe(big.length);
  });

  it('follows a redirect, keeping the Range header', async () => {
    behave = (req, res, count) => {
      if (req.url === '/moved.zip') return void res.writeHead(302, { location: '/h.zip' }).end();
      serve(req, res, count === 2 ? { cutAfter: 256 * 1024 } : {});
    };
    const dest = join(work, 'redirected.zip');
    await download({ url: `${base}/moved.zip`, dest, sha256, size: body.length, backoffMs: 10 });
    expect((await readFile(dest)).equals(body)).toBe(true);
    // moved → h.zip (cut) → moved → h.zip with Range
    expect(requests).toHaveLength(4);
    expect(requests[2]!.range).toBe(requests[3]!.range);
    expect(requests[3]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('finishes without another request when every byte arrived before the connection failed', async () => {
    behave = (req, res) => {
      // OSS answers a range that starts at the end with 416: asking would fail a complete download.
      if (req.headers.range) return void res.writeHead(416).end();
      // One byte more announced than sent, then the connection drops: the body is complete all the same.
      res.writeHead(200, { 'content-length': body.length + 1 });
      res.write(body, () => setTimeout(() => res.socket?.destroy(), 20));
    };
    const dest = join(work, 'complete-then-cut.zip');
    const result = await download({ url: `${base}/c.zip`, dest, sha256, size: body.length, backoffMs: 10 });
    expect(result).toEqual({ path: dest, size: body.length, sha256 });
    expect(requests).toHaveLength(1);
  });

  it('resumes only from the same object (If-Match), and starts over when it changed', async () => {
    const other = randomBytes(body.length); // the same size: only the ETag tells them apart
    const seen: (string | undefined)[] = [];
    behave = (req, res, count) => {
      seen.push(req.headers['if-match'] as string | undefined);
      // The first answer is cut short; by the resume, the key holds another object.
      const [data, etag] = count === 1 ? [body, '"A"'] : [other, '"B"'];
      if (req.headers['if-match'] && req.headers['if-match'] !== etag) return void res.writeHead(412).end();
      res.setHeader('etag', etag);
      serve(req, res, { data, ...(count === 1 ? { cutAfter: 512 * 1024 } : {}) });
    };
    const dest = join(work, 'changed.zip');
    const expected = createHash('sha256').update(other).digest('hex');
    const result = await download({ url: `${base}/changed.zip`, dest, sha256: expected, backoffMs: 10 });
    expect(result).toEqual({ path: dest, size: other.length, sha256: expected });
    expect((await readFile(dest)).equals(other)).toBe(true);
    // Cut → resume with If-Match "A" → 412 → a fresh download, without Range or If-Match.
    expect(seen).toEqual([undefined, '"A"', undefined]);
    expect(requests.map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/), undefined]);
  });

  it('starts over when a resumed range says the object is now another size', async () => {
    const other = randomBytes(body.length - 1000);
    behave = (req, res, count) => serve(req, res, count === 1 ? { cutAfter: 512 * 1024 } : { data: other });
    const dest = join(work, 'resized.zip');
    const expected = createHash('sha256').update(other).digest('hex');
    const result = await download({ url: `${base}/resized.zip`, dest, sha256: expected, backoffMs: 10 });
    expect(result).toEqual({ path: dest, size: other.length, sha256: expected });
    expect(requests.map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/), undefined]);
  });

  it('refuses, at once, a redirect to anything but http(s)', async () => {
    behave = (_req, res) => void res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    const dest = join(work, 'file-redirect.zip');
    await expect(download({ url: `${base}/r.zip`, dest, sha256, size: body.length, backoffMs: 10 })).rejects.toMatchObject({
      code: 'DOWNLOAD_FAILED',
      message: expect.stringContaining('file: address'),
    });
    expect(requests).toHaveLength(1);
  });

  it('fails at once, without retrying, when the file cannot be written', async () => {
    behave = (req, res) => serve(req, res);
    const dest = join(work, 'unwritable.zip');
    await mkdir(`${dest}.part`); // a directory where the .part file should go
    await expect(download({ url: `${base}/i.zip`, dest, sha256, size: body.length, backoffMs: 10 })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: expect.stringContaining('Cannot write') });
    expect(requests).toHaveLength(1);
    await rm(`${dest}.part`, { recursive: true });
  });

  it('fails on a body longer than announced, and stops when aborted mid-body', async () => {
    behave = (req, res) => serve(req, res);
    await expect(download({ url: `${base}/j.zip`, dest: join(work, 'long.zip'), sha256, size: body.length - 10 })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: expect.stringMatching(/larger than/) });
    expect(requests).toHaveLength(1);

    requests = [];
    behave = (_req, res) => {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 64 * 1024)); // then nothing until aborted
    };
    const controller = new AbortController();
    const result = download({ url: `${base}/k.zip`, dest: join(work, 'midway.zip'), sha256, size: body.length, signal: controller.signal, onProgress: () => controller.abort() });
    await expect(result).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(requests).toHaveLength(1);
    const left = await readdir(work);
    expect(left).not.toContain('long.zip.part');
    expect(left).not.toContain('midway.zip.part');
  });
});
