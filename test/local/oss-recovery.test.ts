import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { UploadStore } from '../../src/local/oss/upload-store.js';
import { KEY, PARTS_ON_DISK, clientOf, errorOf, fileIdOf, filesOf, putMultipart, threeParts, uploadParts } from './_oss.js';

// What the store does with its own files when a step fails or the process dies between two steps,
// and with records edited by hand. Restarting the server on the same data dir stands for the restart
// after a crash.

const BUCKET = 'ferry-rec';

let server: OssServer;
let dataDir: string;

const start = (): Promise<OssServer> => startOssServer({ dataDir, credentials: [KEY], buckets: [BUCKET] });
const client = (): OSS => clientOf(server, BUCKET);
const bucketDir = (): string => join(dataDir, BUCKET);
const recordOf = (key: string): string => join(bucketDir(), `${fileIdOf(key)}.json`);
const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);
/** The part records an incomplete upload holds (the parts the next completion finds). */
const partRecords = async (uploadId: string): Promise<string[]> => (await readdir(join(dataDir, '.uploads', uploadId))).filter((name) => /^\d+\.json$/.test(name)).sort();

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-oss-rec-'));
  server = await start();
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('completing an upload', () => {
  it('leaves the upload intact, and completable, when writing the object record fails', async () => {
    const oss = client();
    const parts = threeParts();
    const { uploadId, done } = await uploadParts(oss, 'rec/blocked.bin', parts);
    // Tests run as root, which ignores permissions, and the bucket must stay writable for the parts'
    // rename just before the record: a folder squatting on the record's path makes the record's own
    // rename fail (EISDIR) for anyone.
    await mkdir(join(recordOf('rec/blocked.bin'), 'squatter'), { recursive: true });
    expect(await errorOf(oss.completeMultipartUpload('rec/blocked.bin', uploadId, done))).toMatchObject({ status: 500, code: 'InternalError' });
    expect(await filesOf(bucketDir(), 'rec/blocked.bin')).toEqual(['K.json/squatter']);
    expect(await partRecords(uploadId)).toEqual(['1.json', '2.json', '3.json']);

    await rm(recordOf('rec/blocked.bin'), { recursive: true });
    await oss.completeMultipartUpload('rec/blocked.bin', uploadId, done);
    expect((await oss.get('rec/blocked.bin')).content.equals(Buffer.concat(parts))).toBe(true);
    expect(await filesOf(bucketDir(), 'rec/blocked.bin')).toEqual(PARTS_ON_DISK);
    expect(await readdir(join(dataDir, '.uploads'))).toEqual([]);
  });

  it('puts the upload back after a crash between moving its parts and writing the record', async () => {
    const oss = client();
    const parts = threeParts();
    const { uploadId, done } = await uploadParts(oss, 'rec/crash.bin', parts);
    await server.close();
    // The crash: the first step of a completion, run by hand, and nothing after it.
    const uploads = new UploadStore(join(dataDir, '.uploads'));
    const upload = await uploads.get(uploadId, BUCKET, 'rec/crash.bin');
    const requested = done.map(({ number, etag }) => ({ partNumber: number, etag }));
    await uploads.claim(upload, requested, join(bucketDir(), `${fileIdOf('rec/crash.bin')}.0123456789abcdef.parts`));
    expect(await filesOf(bucketDir(), 'rec/crash.bin')).toContain('K.*.parts/1.*.bin');

    server = await start();
    expect(await filesOf(bucketDir(), 'rec/crash.bin')).toEqual([]);
    expect(await readdir(join(dataDir, '.uploads'))).toEqual([uploadId]);
    expect(await partRecords(uploadId)).toEqual(['1.json', '2.json', '3.json']);
    await client().completeMultipartUpload('rec/crash.bin', uploadId, done);
    expect((await client().get('rec/crash.bin')).content.equals(Buffer.concat(parts))).toBe(true);
    expect(await filesOf(bucketDir(), 'rec/crash.bin')).toEqual(PARTS_ON_DISK);
  });

  it('drops what a crash after the record left behind: upload bookkeeping, unnamed data files, record temp files', async () => {
    const parts = threeParts();
    await putMultipart(client(), 'rec/late.bin', parts);
    await server.close();
    const id = fileIdOf('rec/late.bin');
    const folder = (await readdir(bucketDir())).find((name) => name.startsWith(id) && name.endsWith('.parts'))!;
    // Completing trims the folder only after the record names it; a crash in between leaves these.
    await writeFile(join(bucketDir(), folder, 'upload.json'), JSON.stringify({ uploadId: 'A'.repeat(32), bucket: BUCKET, key: 'rec/late.bin' }));
    await writeFile(join(bucketDir(), folder, '4.json'), '{}');
    await writeFile(join(bucketDir(), folder, '4.0123456789abcdef.bin'), 'unlisted part');
    // An overwrite's previous bytes, a put's bytes whose record was never written, a record half-replaced.
    await writeFile(join(bucketDir(), `${id}.0123456789abcdef.bin`), 'previous');
    await writeFile(join(bucketDir(), `${fileIdOf('rec/never')}.0123456789abcdef.bin`), 'never committed');
    await writeFile(join(bucketDir(), `${id}.json.0123456789abcdef.tmp`), '{');
    // Not a name the store writes: left alone.
    await writeFile(join(bucketDir(), 'NOTES.txt'), 'mine');

    server = await start();
    expect(await filesOf(bucketDir(), 'rec/late.bin')).toEqual(PARTS_ON_DISK);
    expect(await filesOf(bucketDir(), 'rec/never')).toEqual([]);
    expect(await exists(join(bucketDir(), 'NOTES.txt'))).toBe(true);
    expect((await client().get('rec/late.bin')).content.equals(Buffer.concat(parts))).toBe(true);
  });
});

describe('a hand-edited record', () => {
  const kept = threeParts();

  beforeAll(async () => {
    await client().put('keep/plain.txt', Buffer.from('plain'));
    await putMultipart(client(), 'keep/multi.bin', kept);
    await mkdir(join(dataDir, 'x'), { recursive: true });
    await writeFile(join(dataDir, 'x', 'keep.txt'), 'outside the bucket');
  });

  async function editRecord(key: string, edit: (meta: Record<string, unknown>) => Record<string, unknown>): Promise<void> {
    await writeFile(recordOf(key), JSON.stringify(edit(JSON.parse(await readFile(recordOf(key), 'utf8')) as Record<string, unknown>)));
  }

  async function expectNothingElseTouched(): Promise<void> {
    expect((await client().get('keep/plain.txt')).content.toString()).toBe('plain');
    expect((await client().get('keep/multi.bin')).content.equals(Buffer.concat(kept))).toBe(true);
    expect(await readFile(join(dataDir, 'x', 'keep.txt'), 'utf8')).toBe('outside the bucket');
  }

  it.each([
    ['empty', () => ''],
    ['the bucket folder', () => '.'],
    ['a path out of the bucket', () => '../x'],
    ["another object's data file", async () => (JSON.parse(await readFile(recordOf('keep/plain.txt'), 'utf8')) as { file: string }).file],
  ])('is never acted on when its "file" is %s: delete removes nothing else', async (name, file) => {
    const key = `victim/${name}`;
    await client().put(key, Buffer.from('victim'));
    const value = await file();
    await editRecord(key, (meta) => ({ ...meta, file: value }));
    expect((await client().delete(key)).res.status).toBe(204);
    await expectNothingElseTouched();
    expect(await errorOf(client().get(key))).toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it('is never read from when a part names a file outside its folder', async () => {
    await writeFile(join(dataDir, 'secret'), 'not an object');
    await putMultipart(client(), 'victim/parts.bin', threeParts());
    await editRecord('victim/parts.bin', (meta) => ({ ...meta, size: 13, parts: [{ file: '../../secret', size: 13 }] }));
    expect(await errorOf(client().get('victim/parts.bin'))).toMatchObject({ status: 404, code: 'NoSuchKey' });
    expect((await client().delete('victim/parts.bin')).res.status).toBe(204);
    expect(await readFile(join(dataDir, 'secret'), 'utf8')).toBe('not an object');
    await expectNothingElseTouched();
  });
});
