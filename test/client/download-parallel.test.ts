/**
 * download.ts's parallel path (2 MiB and more, size known): against the local OSS store through a signed
 * URL for the bytes themselves, and against a fault server (a small node:http server that serves
 * ranges and misbehaves on purpose: holds a response, cuts one, flips a byte, swaps the object,
 * ignores Range) for what the store never does.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { download, type DownloadProgress, type DownloadRetry } from '../../src/client/download.js';
import { lockPath, type LockHolder } from '../../src/client/download-lock.js';
import { SMALL_FILE_BYTES } from '../../src/client/download-tuning.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { clientOf, KEY, pathClientOf, signedGet } from '../local/_oss.js';

const MiB = 1024 * 1024;
const sha256Of = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

let work: string;
let oss: OssServer;
let fault: Server;
let faultBase: string;
/** What the fault server does with each request; set by each test. */
let behave: (req: IncomingMessage, res: ServerResponse, count: number) => void;
let requests: { range: string | undefined; ifMatch: string | undefined; served: number }[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-download-parallel-'));
  oss = await startOssServer({ dataDir: join(work, 'oss'), credentials: [KEY], buckets: ['ferry-dl'] });
  fault = createServer((req, res) => {
    requests.push({ range: req.headers.range, ifMatch: req.headers['if-match'] as string | undefined, served: 0 });
    behave(req, res, requests.length);
  });
  await new Promise<void>((resolve) => fault.listen(0, '127.0.0.1', resolve));
  faultBase = `http://127.0.0.1:${(fault.address() as AddressInfo).port}`;
});
afterAll(async () => {
  fault?.closeAllConnections();
  if (fault) await new Promise((resolve) => fault.close(resolve));
  await oss?.close();
  await rm(work, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
});

interface Serving {
  data: Buffer;
  etag?: string;
  /** Send the headers, then nothing (the response hangs until the client gives up). */
  hold?: boolean;
  /** Drop the connection after this many body bytes. */
  cutAfter?: number;
  /** Flip this absolute byte of the body. */
  flip?: number;
  ignoreRange?: boolean;
}

/** The fault server's answer: `bytes=a-b` honoured (206), If-Match compared with `etag`; counts the body bytes it sends. */
function serve(req: IncomingMessage, res: ServerResponse, serving: Serving): void {
  const { data } = serving;
  const record = requests.at(-1);
  const ifMatch = req.headers['if-match'];
  if (ifMatch && serving.etag && ifMatch !== serving.etag) return void res.writeHead(412).end();
  const match = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const ranged = match !== null && !serving.ignoreRange;
  const start = ranged ? Number(match[1]) : 0;
  const end = ranged && match[2] ? Math.min(Number(match[2]) + 1, data.length) : data.length;
  let body = Buffer.from(data.subarray(start, end));
  if (serving.flip !== undefined && serving.flip >= start && serving.flip < end) body[serving.flip - start]! ^= 0xff;
  const headers: Record<string, string | number> = { 'content-length': body.length, 'accept-ranges': 'bytes' };
  if (serving.etag) headers.etag = serving.etag;
  if (ranged) headers['content-range'] = `bytes ${start}-${end - 1}/${data.length}`;
  res.writeHead(ranged ? 206 : 200, headers);
  if (serving.hold) return void res.flushHeaders();
  if (serving.cutAfter !== undefined) body = body.subarray(0, serving.cutAfter);
  if (record) record.served = body.length;
  if (serving.cutAfter === undefined) return void res.end(body);
  res.write(body, () => setTimeout(() => res.socket?.destroy(), 20));
}

const startOf = (range: string | undefined): number => Number(/^bytes=(\d+)-/.exec(range ?? '')?.[1] ?? 0);

/** `[start, end)` a Range header asks for (the whole object without one). */
function boundsOf(range: string | undefined, size: number): [number, number] {
  const match = /^bytes=(\d+)-(\d*)$/.exec(range ?? '');
  if (!match) return [0, size];
  return [Number(match[1]), match[2] ? Math.min(Number(match[2]) + 1, size) : size];
}

async function leftovers(name: string): Promise<string[]> {
  return (await readdir(work)).filter((entry) => entry.startsWith(`${name}.`));
}

describe('download over parallel ranges', () => {
  it.each([
    { name: 'the smallest parallel size', size: SMALL_FILE_BYTES, connections: undefined },
    { name: 'exactly one piece', size: 3 * MiB + 1, connections: 1 },
    { name: 'an odd size over four connections', size: 5 * MiB + 333, connections: 4 },
    { name: 'many pieces', size: 17 * MiB + 7, connections: undefined },
  ])('saves $name byte for byte from the OSS store ($size bytes)', async ({ size, connections }) => {
    const data = randomBytes(size);
    const key = `parallel/${size}.bin`;
    await clientOf(oss, 'ferry-dl').put(key, data);
    const url = await signedGet(pathClientOf(oss, 'ferry-dl'), key);
    const dest = join(work, `oss-${size}.bin`);
    let last: DownloadProgress | undefined;
    const result = await download({ url, dest, sha256: sha256Of(data), size, connections, onProgress: (progress) => (last = progress) });
    expect(result).toEqual({ path: dest, size, sha256: sha256Of(data) });
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(last).toMatchObject({ bytes: size, total: size, contiguous: size });
    expect(await leftovers(`oss-${size}.bin`)).toEqual([]);
  });

  it('continues in a second run from where an interrupted one stopped, asking only for the missing ranges', async () => {
    const data = randomBytes(6 * MiB + 5);
    const dest = join(work, 'continued.bin');
    const half = 3 * MiB;
    // Run 1: ranges below `half` are served, the others hang; the run is interrupted once the first half is on disk.
    behave = (req, res) => serve(req, res, { data, etag: '"A"', hold: startOf(req.headers.range) >= half });
    const controller = new AbortController();
    const first = download({
      url: `${faultBase}/continued.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 4, signal: controller.signal,
      onProgress: ({ contiguous }) => contiguous >= half && controller.abort(),
    });
    await expect(first).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect((await leftovers('continued.bin')).sort()).toEqual(['continued.bin.part', 'continued.bin.part.json']);
    const journal = JSON.parse(await readFile(`${dest}.part.json`, 'utf8')) as { done: [number, number][] };
    const kept = journal.done.reduce((sum, [start, end]) => sum + end - start, 0);
    expect(journal.done[0]).toEqual([0, expect.any(Number)]);
    expect(kept).toBeGreaterThanOrEqual(half);
    const firstRun = requests.length;

    // Run 2 (one connection, so what is served is exactly what is asked): nothing the journal kept is asked for again.
    behave = (req, res) => serve(req, res, { data, etag: '"A"' });
    const progress: DownloadProgress[] = [];
    const result = await download({ url: `${faultBase}/continued.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 1, onProgress: (p) => progress.push(p) });
    expect(result.sha256).toBe(sha256Of(data));
    expect((await readFile(dest)).equals(data)).toBe(true);
    const second = requests.slice(firstRun);
    expect(second.length).toBeGreaterThan(0);
    for (const request of second) {
      expect(startOf(request.range)).toBeGreaterThanOrEqual(half);
      expect(request.ifMatch).toBe('"A"');
    }
    expect(second.reduce((sum, request) => sum + request.served, 0)).toBe(data.length - kept);
    // The first report already counts what the first run left.
    expect(progress[0]!.bytes).toBeGreaterThan(kept);
    expect(await leftovers('continued.bin')).toEqual([]);
  });

  it.each([
    { name: 'answers 412 to If-Match', ignoreIfMatch: false },
    { name: 'ignores If-Match but sends the new ETag', ignoreIfMatch: true },
  ])('starts over from byte 0 when another object is behind the same URL (the server $name)', async ({ ignoreIfMatch }) => {
    const before = randomBytes(4 * MiB);
    const after = randomBytes(4 * MiB); // the same size: only the ETag tells them apart
    const dest = join(work, `replaced-${String(ignoreIfMatch)}.bin`);
    behave = (req, res) => serve(req, res, { data: before, etag: '"A"', hold: startOf(req.headers.range) >= MiB });
    const controller = new AbortController();
    // The caller expects the new object's bytes in both runs (as a second `ferry get` would after a rebuild).
    const options = { url: `${faultBase}/replaced.bin`, dest, sha256: sha256Of(after), size: after.length, connections: 2 };
    await expect(download({ ...options, signal: controller.signal, onProgress: ({ contiguous }) => contiguous >= MiB && controller.abort() })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const firstRun = requests.length;

    behave = (req, res) => {
      if (ignoreIfMatch) delete req.headers['if-match'];
      serve(req, res, { data: after, etag: '"B"' });
    };
    const retries: DownloadRetry[] = [];
    const result = await download({ ...options, backoffMs: 10, onRetry: (retry) => retries.push(retry) });
    expect(result.sha256).toBe(sha256Of(after));
    expect((await readFile(dest)).equals(after)).toBe(true);
    expect(retries.some((retry) => /starting over/.test(retry.reason))).toBe(true);
    // After the refusal every byte came from the new object, the first half included.
    const second = requests.slice(firstRun);
    expect(second.some((request) => startOf(request.range) === 0 && request.ifMatch !== '"A"')).toBe(true);
  });

  it('catches a corrupted range by the sha256 and downloads again', async () => {
    const data = randomBytes(3 * MiB + 99);
    const spoiled = 2 * MiB + 7;
    let flipped = false;
    behave = (req, res) => {
      // One byte flipped in the first answer that carries it: the server's fault, once.
      const [start, end] = boundsOf(req.headers.range, data.length);
      const flip = !flipped && start <= spoiled && spoiled < end ? spoiled : undefined;
      if (flip !== undefined) flipped = true;
      serve(req, res, { data, etag: '"C"', ...(flip !== undefined ? { flip } : {}) });
    };
    const dest = join(work, 'corrupted.bin');
    const retries: DownloadRetry[] = [];
    const result = await download({ url: `${faultBase}/corrupted.bin`, dest, sha256: sha256Of(data), size: data.length, onRetry: (retry) => retries.push(retry) });
    expect(flipped).toBe(true);
    expect(result.sha256).toBe(sha256Of(data));
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(retries.map((retry) => retry.reason)).toEqual([expect.stringContaining('sha256')]);
    // The second pass fetched everything again from byte 0: the journal of the spoiled pass was not trusted.
    expect(requests.filter((request) => startOf(request.range) === 0)).toHaveLength(2);
  });

  it('fails with CHECKSUM_MISMATCH when the bytes are wrong twice, leaving neither the part nor its journal', async () => {
    const data = randomBytes(2 * MiB + 1);
    behave = (req, res) => serve(req, res, { data, etag: '"D"' });
    const dest = join(work, 'mismatch.bin');
    await expect(download({ url: `${faultBase}/mismatch.bin`, dest, sha256: 'e'.repeat(64), size: data.length })).rejects.toMatchObject({ code: 'CHECKSUM_MISMATCH' });
    expect(await leftovers('mismatch.bin')).toEqual([]);
    expect(requests.filter((request) => startOf(request.range) === 0)).toHaveLength(2);
  });

  it('works with a server that ignores Range, over one connection', async () => {
    const data = randomBytes(3 * MiB + 17);
    behave = (req, res) => serve(req, res, { data, ignoreRange: true });
    const dest = join(work, 'no-ranges.bin');
    const result = await download({ url: `${faultBase}/no-ranges.bin`, dest, sha256: sha256Of(data), size: data.length });
    expect(result.sha256).toBe(sha256Of(data));
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(requests.at(-1)!.range).toBeUndefined();
    expect(await leftovers('no-ranges.bin')).toEqual([]);
  });

  it('retries a dropped range within the run, from the bytes it had', async () => {
    const data = randomBytes(4 * MiB + 3);
    behave = (req, res, count) => serve(req, res, { data, etag: '"E"', ...(count === 1 ? { cutAfter: 300 * 1024 } : {}) });
    const dest = join(work, 'dropped.bin');
    const retries: DownloadRetry[] = [];
    // One connection: a single piece, so the bytes served are exactly what was asked for.
    const result = await download({ url: `${faultBase}/dropped.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 1, backoffMs: 10, onRetry: (retry) => retries.push(retry) });
    expect(result.sha256).toBe(sha256Of(data));
    expect(retries).toHaveLength(1);
    // Whatever arrived before the cut is not asked for again.
    expect(requests.reduce((sum, request) => sum + request.served, 0)).toBe(data.length);
  });

  it('drops a stalled range after the idle timeout and fetches it again', async () => {
    const data = randomBytes(4 * MiB + 11);
    behave = (req, res, count) => serve(req, res, { data, etag: '"G"', ...(count === 1 ? { hold: true } : {}) });
    const dest = join(work, 'stalled.bin');
    const retries: DownloadRetry[] = [];
    const result = await download({ url: `${faultBase}/stalled.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 4, idleTimeoutMs: 300, backoffMs: 10, onRetry: (retry) => retries.push(retry) });
    expect(result.sha256).toBe(sha256Of(data));
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(retries.map((retry) => retry.reason)).toContain('stalled');
  });

  it('fails at once, without retrying, when the part cannot be written', async () => {
    const data = randomBytes(2 * MiB);
    behave = (req, res) => serve(req, res, { data });
    const dest = join(work, 'unwritable.bin');
    await mkdir(`${dest}.part`); // a directory where the .part file should go
    await expect(download({ url: `${faultBase}/unwritable.bin`, dest, sha256: sha256Of(data), size: data.length })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED', message: expect.stringContaining('Cannot write') });
    expect(requests).toHaveLength(0);
    await rm(`${dest}.part`, { recursive: true });
  });

  it('with resume: false, keeps nothing of an interrupted run; refuses a connection count below 1', async () => {
    const data = randomBytes(4 * MiB);
    behave = (req, res) => serve(req, res, { data, etag: '"H"', hold: startOf(req.headers.range) >= MiB });
    const dest = join(work, 'no-resume.bin');
    const controller = new AbortController();
    const options = { url: `${faultBase}/no-resume.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 4 };
    await expect(download({ ...options, resume: false, signal: controller.signal, onProgress: ({ contiguous }) => contiguous >= MiB && controller.abort() })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(await leftovers('no-resume.bin')).toEqual([]);
    await expect(download({ ...options, connections: 0 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('fails at once on a 404 and leaves nothing; a 403 keeps what it has for the next run', async () => {
    behave = (_req, res) => void res.writeHead(404).end();
    await expect(download({ url: `${faultBase}/gone.bin`, dest: join(work, 'gone.bin'), sha256: 'a'.repeat(64), size: 4 * MiB })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
    expect(await leftovers('gone.bin')).toEqual([]);

    const data = randomBytes(4 * MiB);
    // The first MiB is served; the other ranges are refused a little later, so that MiB is on disk first.
    behave = (req, res) => (startOf(req.headers.range) < MiB ? serve(req, res, { data, etag: '"F"' }) : void setTimeout(() => res.writeHead(403).end(), 200));
    const dest = join(work, 'expired.bin');
    await expect(download({ url: `${faultBase}/expired.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 4 })).rejects.toMatchObject({ code: 'DOWNLOAD_FAILED' });
    expect((await leftovers('expired.bin')).sort()).toEqual(['expired.bin.part', 'expired.bin.part.json']);
    behave = (req, res) => serve(req, res, { data, etag: '"F"' });
    requests = [];
    await download({ url: `${faultBase}/expired.bin`, dest, sha256: sha256Of(data), size: data.length, connections: 4 });
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(requests.every((request) => startOf(request.range) >= MiB)).toBe(true);
  });
});

describe('one download per dest at a time', () => {
  it('two downloads of one object into one dest at once: one downloads, the other waits and finds the file', async () => {
    const data = randomBytes(9 * MiB + 3);
    const key = 'parallel/twice.bin';
    await clientOf(oss, 'ferry-dl').put(key, data);
    const url = await signedGet(pathClientOf(oss, 'ferry-dl'), key);
    const dest = join(work, 'twice.bin');
    const reports = [0, 0];
    const waits: LockHolder[] = [];
    const options = { url, dest, sha256: sha256Of(data), size: data.length, onWaiting: (holder: LockHolder) => waits.push(holder) };
    const results = await Promise.all(
      [0, 1].map((which) => download({ ...options, onProgress: () => void reports[which]!++ })),
    );
    for (const result of results) expect(result).toEqual({ path: dest, size: data.length, sha256: sha256Of(data) });
    expect((await readFile(dest)).equals(data)).toBe(true);
    // Exactly one of them downloaded; the other reported no byte of its own.
    expect(reports.filter((count) => count > 0)).toHaveLength(1);
    expect(waits).toEqual([{ pid: process.pid, host: hostname() }]);
    expect(await leftovers('twice.bin')).toEqual([]);
  });

  it('takes over a lock left by a process that is gone', async () => {
    const data = randomBytes(3 * MiB + 1);
    behave = (req, res) => serve(req, res, { data, etag: '"S"' });
    const dest = join(work, 'stale-lock.bin');
    const child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    await writeFile(lockPath(`${dest}.part`), JSON.stringify({ pid: child.pid, host: hostname() }));
    const waits: LockHolder[] = [];
    const result = await download({ url: `${faultBase}/stale-lock.bin`, dest, sha256: sha256Of(data), size: data.length, onWaiting: (holder) => waits.push(holder) });
    expect(result.sha256).toBe(sha256Of(data));
    expect((await readFile(dest)).equals(data)).toBe(true);
    expect(waits).toEqual([]);
    expect(await leftovers('stale-lock.bin')).toEqual([]);
  });

  it('waits for a live owner until stopped, and leaves its lock alone', async () => {
    const dest = join(work, 'held.bin');
    const lock = lockPath(`${dest}.part`);
    const holder = JSON.stringify({ pid: process.pid, host: hostname() });
    await writeFile(lock, holder);
    const controller = new AbortController();
    const waiting = download({ url: `${faultBase}/held.bin`, dest, sha256: 'a'.repeat(64), size: 4 * MiB, signal: controller.signal, onWaiting: () => controller.abort() });
    await expect(waiting).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(requests).toHaveLength(0);
    expect(await readFile(lock, 'utf8')).toBe(holder);
    await rm(lock);
  });
});
