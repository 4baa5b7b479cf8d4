import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { OPEN_AHEAD } from '../../src/local/oss/segments.js';
import { KB, KEY, PARTS_ON_DISK, clientOf, collect, errorOf, filesOf as filesIn, multipartEtag, pathClientOf, putMultipart as putWith, signedGet, threeParts, uploadParts } from './_oss.js';

// Completed multipart objects are kept as their part files; these read them back through ali-oss
// exactly as objects written by PutObject are read (see oss.test.ts for the rest of the store).

const BUCKET = 'ferry-mp';

let server: OssServer;
let dataDir: string;

const client = (): OSS => clientOf(server, BUCKET);
const pathClient = (): OSS => pathClientOf(server, BUCKET);
const filesOf = (key: string): Promise<string[]> => filesIn(join(dataDir, BUCKET), key);
const putMultipart = (key: string, parts: Buffer[], init: OSS.InitMultipartUploadOptions = {}): Promise<void> => putWith(client(), key, parts, init);

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-oss-mp-'));
  server = await startOssServer({ dataDir, credentials: [KEY], buckets: [BUCKET] });
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('a completed multipart object', () => {
  const parts = threeParts();
  const data = Buffer.concat(parts);
  const [p1, p2] = parts.map((part) => part.length) as [number, number];
  const size = data.length;
  const headers = { 'Content-Disposition': 'attachment; filename="repo.tar.gz"', 'Cache-Control': 'no-cache' };
  const meta = { commit: 'abc123' } as unknown as OSS.UserMeta;

  beforeAll(async () => {
    await putMultipart('mp/archive.tar.gz', parts, { mime: 'application/gzip', headers, meta });
    // The same bytes and headers written by PutObject, to compare against.
    await client().put('mp/plain.tar.gz', data, { mime: 'application/gzip', headers, meta });
  });

  it('is kept as its part files, with nothing left in .uploads', async () => {
    expect(await filesOf('mp/archive.tar.gz')).toEqual(PARTS_ON_DISK);
    expect(await readdir(join(dataDir, '.uploads'))).toEqual([]);
  });

  it('reads back byte-identical with get and getStream', async () => {
    expect((await client().get('mp/archive.tar.gz')).content.equals(data)).toBe(true);
    const { stream, res } = await client().getStream('mp/archive.tar.gz');
    expect(res.status).toBe(200);
    expect((await collect(stream as Readable)).equals(data)).toBe(true);
  });

  it('answers HEAD and GET with the headers of the same object written by PutObject', async () => {
    const oss = client();
    const differ = ['etag', 'x-oss-object-type', 'last-modified', 'date', 'x-oss-request-id'];
    const comparable = (all: Record<string, string>) => Object.fromEntries(Object.entries(all).filter(([name]) => !differ.includes(name)));
    for (const read of [(key: string) => oss.head(key), (key: string) => oss.get(key)]) {
      const multipart = (await read('mp/archive.tar.gz')).res.headers as Record<string, string>;
      const plain = (await read('mp/plain.tar.gz')).res.headers as Record<string, string>;
      expect(comparable(multipart)).toEqual(comparable(plain));
      expect(multipart).toMatchObject({
        etag: multipartEtag(parts),
        'x-oss-object-type': 'Multipart',
        'content-length': String(size),
        'content-type': 'application/gzip',
        'content-disposition': headers['Content-Disposition'],
        'x-oss-meta-commit': 'abc123',
        'last-modified': expect.stringMatching(/ GMT$/),
      });
    }
    expect((await oss.head('mp/archive.tar.gz')).meta).toEqual({ commit: 'abc123' });
  });

  it('is listed with its size and multipart ETag', async () => {
    const listed = await client().list({ prefix: 'mp/archive', 'max-keys': 10 }, {});
    expect(listed.objects.map((o) => [o.name, o.size, o.etag])).toEqual([['mp/archive.tar.gz', size, multipartEtag(parts)]]);
  });

  it.each([
    ['inside the first part', () => `bytes=10-99`, () => [10, 99]],
    ['exactly the second part', () => `bytes=${p1}-${p1 + p2 - 1}`, () => [p1, p1 + p2 - 1]],
    ['the first byte of the second part', () => `bytes=${p1}-${p1}`, () => [p1, p1]],
    ['across parts 1 and 2', () => `bytes=${p1 - 100}-${p1 + 100}`, () => [p1 - 100, p1 + 100]],
    ['across all three parts', () => `bytes=100-${p1 + p2 + 1}`, () => [100, p1 + p2 + 1]],
    ['the whole object as a range', () => 'bytes=0-', () => [0, size - 1]],
    ['open from inside part 2', () => `bytes=${p1 + 7}-`, () => [p1 + 7, size - 1]],
    ['a suffix starting 5 bytes before part 2', () => `bytes=-${size - p1 + 5}`, () => [p1 - 5, size - 1]],
    ['a suffix starting inside part 2', () => `bytes=-${size - p1 - 5}`, () => [p1 + 5, size - 1]],
    ['a suffix larger than the object', () => `bytes=-${size + 10}`, () => [0, size - 1]],
    ['an end past the object', () => `bytes=${size - 3}-${size + 1000}`, () => [size - 3, size - 1]],
  ])('answers a range %s with 206', async (_, range, expected) => {
    const [start, end] = expected() as [number, number];
    const got = await client().get('mp/archive.tar.gz', { headers: { Range: range() } });
    expect(got.res.status).toBe(206);
    expect(got.res.headers).toMatchObject({ 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1) });
    expect(got.content.equals(data.subarray(start, end + 1))).toBe(true);
  });

  it('answers an unsatisfiable range with 416 InvalidRange and a conditional GET with 304', async () => {
    expect(await errorOf(client().get('mp/archive.tar.gz', { headers: { Range: `bytes=${size}-` } }))).toMatchObject({ status: 416, code: 'InvalidRange' });
    const response = await fetch(await signedGet(pathClient(), 'mp/archive.tar.gz'), { headers: { 'If-None-Match': multipartEtag(parts) } });
    expect(response.status).toBe(304);
  });

  it('serves signed URLs, with response-content-disposition and a Range', async () => {
    const whole = await fetch(await signedGet(pathClient(), 'mp/archive.tar.gz', { 'response-content-disposition': 'attachment; filename="x.tgz"' }));
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-disposition')).toBe('attachment; filename="x.tgz"');
    expect(whole.headers.get('etag')).toBe(multipartEtag(parts));
    expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);

    const ranged = await fetch(await signedGet(pathClient(), 'mp/archive.tar.gz', { 'response-content-type': 'application/x-tar' }), { headers: { Range: `bytes=${p1 - 1}-${p1 + p2}` } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-type')).toBe('application/x-tar');
    expect(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(p1 - 1, p1 + p2 + 1))).toBe(true);
  });
});

describe('replacing and removing multipart objects', () => {
  it('leaves no part files behind when overwritten by PUT, by another multipart upload, or deleted', async () => {
    const oss = client();
    await putMultipart('mp/cycle.bin', threeParts());
    expect(await filesOf('mp/cycle.bin')).toEqual(PARTS_ON_DISK);

    await oss.put('mp/cycle.bin', Buffer.from('plain now'));
    expect(await filesOf('mp/cycle.bin')).toEqual(['K.*.bin', 'K.json']);

    const first = threeParts();
    await putMultipart('mp/cycle.bin', first);
    const second = threeParts();
    await putMultipart('mp/cycle.bin', second);
    expect(await filesOf('mp/cycle.bin')).toEqual(PARTS_ON_DISK);
    expect((await oss.get('mp/cycle.bin')).content.equals(Buffer.concat(second))).toBe(true);

    await oss.delete('mp/cycle.bin');
    expect(await filesOf('mp/cycle.bin')).toEqual([]);
    expect((await errorOf(oss.head('mp/cycle.bin'))).code).toBe('NoSuchKey');
    expect(await readdir(join(dataDir, '.uploads'))).toEqual([]);
  });

  it('drops parts uploaded but not listed in the completion', async () => {
    const oss = client();
    const parts = threeParts();
    const { uploadId, done } = await uploadParts(oss, 'mp/subset.bin', parts);
    await oss.completeMultipartUpload('mp/subset.bin', uploadId, [done[0]!, done[2]!]);
    expect(await filesOf('mp/subset.bin')).toEqual(['K.*.parts/1.*.bin', 'K.*.parts/3.*.bin', 'K.json']);
    expect((await oss.get('mp/subset.bin')).content.equals(Buffer.concat([parts[0]!, parts[2]!]))).toBe(true);
    await oss.delete('mp/subset.bin');
  });

  it.each([
    ['a delete', (oss: OSS) => oss.delete('mp/busy.bin'), [] as string[]],
    ['an overwrite', (oss: OSS) => oss.put('mp/busy.bin', Buffer.from('new')), ['K.*.bin', 'K.json']],
  ])(`lets a download of more parts than the ${OPEN_AHEAD} a GET opens ahead finish across %s with the old bytes`, async (_, change, after) => {
    const oss = client();
    const parts = Array.from({ length: 3 * OPEN_AHEAD }, () => randomBytes(1024 * KB));
    await putMultipart('mp/busy.bin', parts);
    const { stream } = await oss.getStream('mp/busy.bin');
    await change(oss);
    expect((await collect(stream as Readable)).equals(Buffer.concat(parts))).toBe(true);
    // The old parts are removed once the download is done.
    await vi.waitFor(async () => expect(await filesOf('mp/busy.bin')).toEqual(after));
    await oss.delete('mp/busy.bin');
  });

  it('refuses to complete onto an existing key with x-oss-forbid-overwrite, changing nothing', async () => {
    const oss = client();
    await oss.put('mp/taken.bin', Buffer.from('first'));
    const before = await filesOf('mp/taken.bin');
    const { uploadId, done } = await uploadParts(oss, 'mp/taken.bin', threeParts());
    const refused = oss.completeMultipartUpload('mp/taken.bin', uploadId, done, { headers: { 'x-oss-forbid-overwrite': 'true' } });
    expect(await errorOf(refused)).toMatchObject({ status: 409, code: 'FileAlreadyExists' });
    expect((await oss.get('mp/taken.bin')).content.toString()).toBe('first');
    expect(await filesOf('mp/taken.bin')).toEqual(before);
    // The upload is intact: its three part records are still there, and abort removes them.
    expect((await readdir(join(dataDir, '.uploads', uploadId))).filter((name) => /^\d+\.json$/.test(name)).sort()).toEqual(['1.json', '2.json', '3.json']);
    await oss.abortMultipartUpload('mp/taken.bin', uploadId);
    expect(await readdir(join(dataDir, '.uploads'))).toEqual([]);
    await oss.delete('mp/taken.bin');
  });

  it('honours x-oss-forbid-overwrite given at initiation when the key appears meanwhile', async () => {
    const oss = client();
    const { uploadId, done } = await uploadParts(oss, 'mp/late.bin', threeParts(), { headers: { 'x-oss-forbid-overwrite': 'true' } });
    await oss.put('mp/late.bin', Buffer.from('won the race'));
    expect(await errorOf(oss.completeMultipartUpload('mp/late.bin', uploadId, done))).toMatchObject({ status: 409, code: 'FileAlreadyExists' });
    expect((await oss.get('mp/late.bin')).content.toString()).toBe('won the race');
    expect(await filesOf('mp/late.bin')).toEqual(['K.*.bin', 'K.json']);
    await oss.abortMultipartUpload('mp/late.bin', uploadId);
    await oss.delete('mp/late.bin');
  });

  it('answers one of two concurrent completions of one upload with 404 NoSuchUpload, as OSS does', async () => {
    const oss = client();
    const parts = threeParts();
    const { uploadId, done } = await uploadParts(oss, 'mp/twice.bin', parts);
    const results = await Promise.allSettled([oss.completeMultipartUpload('mp/twice.bin', uploadId, done), oss.completeMultipartUpload('mp/twice.bin', uploadId, done)]);
    const won = results.filter((result) => result.status === 'fulfilled');
    const lost = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost).toMatchObject([{ status: 404, code: 'NoSuchUpload' }]);
    expect((await oss.get('mp/twice.bin')).content.equals(Buffer.concat(parts))).toBe(true);
    expect(await filesOf('mp/twice.bin')).toEqual(PARTS_ON_DISK);
    await oss.delete('mp/twice.bin');
  });

  it('lets a part racing a completion either land before it or fail with NoSuchUpload, leaving nothing behind', async () => {
    const oss = client();
    const parts = threeParts();
    const { uploadId, done } = await uploadParts(oss, 'mp/late-part.bin', parts);
    const extra = join(dataDir, '..', `ferry-oss-late-part-${process.pid}.bin`);
    await writeFile(extra, randomBytes(10));
    try {
      const [part, completed] = await Promise.allSettled([oss.uploadPart('mp/late-part.bin', uploadId, 4, extra, 0, 10), oss.completeMultipartUpload('mp/late-part.bin', uploadId, done)]);
      expect(completed.status).toBe('fulfilled');
      if (part.status === 'rejected') expect(part.reason).toMatchObject({ status: 404, code: 'NoSuchUpload' });
    } finally {
      await rm(extra, { force: true });
    }
    // Part 4 was not in the completion: it is not part of the object, whenever it arrived.
    expect(await filesOf('mp/late-part.bin')).toEqual(PARTS_ON_DISK);
    expect((await oss.get('mp/late-part.bin')).content.equals(Buffer.concat(parts))).toBe(true);
    expect(await readdir(join(dataDir, '.uploads'))).toEqual([]);
    expect(await readdir(join(dataDir, '.tmp'))).toEqual([]);
    await oss.delete('mp/late-part.bin');
  });
});
