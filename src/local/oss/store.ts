import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { assertBucketName } from './address.js';
import { KeyedLock, randomName, readRecord, removeQuietly, removeTreeQuietly, writeRecord } from './disk.js';
import { OssError, fileAlreadyExists, noSuchBucket } from './errors.js';
import { openSegments } from './segments.js';
import type { ObjectData, ObjectMeta } from './types.js';

/*
 * Disk layout:
 *   <dataDir>/<bucket>/<sha256(key)>.json         the object's record (ObjectMeta, including the key)
 *   <dataDir>/<bucket>/<sha256(key)>.<rand>.bin   its bytes; a new name per write
 *   <dataDir>/<bucket>/<sha256(key)>.<rand>.parts/ or, for a completed multipart upload, its part files
 *                                                 as uploaded (<n>.<rand>.bin), listed in order in the record
 *   <dataDir>/.uploads/<uploadId>/                incomplete multipart uploads (upload-store.ts)
 *   <dataDir>/.tmp/                               bodies being received
 * Keys never become paths: a key may be 1023 bytes, hold "a" and "a/b" at once, or be hostile, and a
 * hash sidesteps all of that. The only user text in a path is a validated bucket name.
 */

const fileId = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

export class ObjectStore {
  readonly tmpDir: string;
  readonly uploadsDir: string;
  private readonly lock = new KeyedLock();

  constructor(readonly dataDir: string) {
    this.tmpDir = join(dataDir, '.tmp');
    this.uploadsDir = join(dataDir, '.uploads');
  }

  /** Creates the layout; bodies left in `.tmp/` by a crash are dropped (one server per data dir). */
  async init(buckets: readonly string[]): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.uploadsDir, { recursive: true });
    for (const bucket of buckets) await this.createBucket(bucket);
  }

  private bucketDir(bucket: string): string {
    assertBucketName(bucket);
    return join(this.dataDir, bucket);
  }

  async bucketExists(bucket: string): Promise<boolean> {
    const info = await stat(this.bucketDir(bucket)).catch(() => undefined);
    return info?.isDirectory() ?? false;
  }

  async assertBucket(bucket: string): Promise<void> {
    if (!(await this.bucketExists(bucket))) throw noSuchBucket(bucket);
  }

  /** Returns false when it already existed (PutBucket on an own bucket is idempotent in OSS). */
  async createBucket(bucket: string): Promise<boolean> {
    const dir = this.bucketDir(bucket);
    if (await this.bucketExists(bucket)) return false;
    await mkdir(dir, { recursive: true });
    return true;
  }

  async deleteBucket(bucket: string): Promise<void> {
    await this.assertBucket(bucket);
    const entries = await readdir(this.bucketDir(bucket));
    if (entries.some((name) => name.endsWith('.json'))) {
      throw new OssError(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty.', { BucketName: bucket });
    }
    await rm(this.bucketDir(bucket), { recursive: true, force: true });
  }

  private recordPath(bucket: string, key: string): string {
    return join(this.bucketDir(bucket), `${fileId(key)}.json`);
  }

  async head(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    const meta = await readRecord<ObjectMeta>(this.recordPath(bucket, key));
    return meta?.key === key ? meta : undefined;
  }

  /**
   * Opens bytes `start`–`end` of the object `meta` describes. `undefined` when its files are gone: a
   * concurrent overwrite or delete removed them after `meta` was read, so read the record again.
   */
  async read(bucket: string, meta: ObjectMeta, start: number, end: number): Promise<Readable | undefined> {
    const data = join(this.bucketDir(bucket), meta.file);
    const segments = meta.parts?.map((part) => ({ path: join(data, part.file), size: part.size })) ?? [{ path: data, size: meta.size }];
    return openSegments(segments, start, end);
  }

  /**
   * Moves a received temp file into the bucket and commits its record. With `forbidOverwrite`, an
   * existing object makes it fail with 409 FileAlreadyExists and the temp file is discarded.
   */
  async commit(bucket: string, key: string, tmpPath: string, data: ObjectData, forbidOverwrite: boolean): Promise<ObjectMeta> {
    const place = async (target: string): Promise<ObjectData> => {
      await rename(tmpPath, target);
      return data;
    };
    try {
      return await this.commitWith(bucket, key, '.bin', place, forbidOverwrite);
    } catch (error) {
      await removeQuietly(tmpPath);
      throw error;
    }
  }

  /**
   * Commits a completed multipart upload without copying a byte: `claim` moves the upload's part files
   * into `folder` and describes them. It runs only after the `forbidOverwrite` check, so a refused
   * upload is left as it was.
   */
  async commitMultipart(bucket: string, key: string, claim: (folder: string) => Promise<ObjectData>, forbidOverwrite: boolean): Promise<ObjectMeta> {
    return this.commitWith(bucket, key, '.parts', claim, forbidOverwrite);
  }

  /**
   * Under the key's lock: `place` puts the bytes at a fresh name (or throws having moved nothing), the
   * record is replaced, which commits, and only then are the previous bytes removed. A crash at any
   * point leaves at worst an unnamed file, never a record naming a missing one.
   */
  private async commitWith(
    bucket: string,
    key: string,
    suffix: '.bin' | '.parts',
    place: (target: string) => Promise<ObjectData>,
    forbidOverwrite: boolean,
  ): Promise<ObjectMeta> {
    const dir = this.bucketDir(bucket);
    const recordPath = this.recordPath(bucket, key);
    return this.lock.run(recordPath, async () => {
      const previous = await this.head(bucket, key);
      if (previous && forbidOverwrite) throw fileAlreadyExists(key);
      const file = `${fileId(key)}.${randomName()}${suffix}`;
      const record: ObjectMeta = { ...(await place(join(dir, file))), key, file, lastModified: new Date().toISOString() };
      try {
        await writeRecord(recordPath, record);
      } catch (error) {
        await removeTreeQuietly(join(dir, file));
        throw error;
      }
      // Readers that opened the previous files keep reading them; see segments.ts.
      if (previous) await removeTreeQuietly(join(dir, previous.file));
      return record;
    });
  }

  /** Deleting a missing key succeeds, as in OSS. */
  async delete(bucket: string, key: string): Promise<void> {
    const recordPath = this.recordPath(bucket, key);
    await this.lock.run(recordPath, async () => {
      const previous = await this.head(bucket, key);
      if (!previous) return;
      await removeQuietly(recordPath);
      await removeTreeQuietly(join(this.bucketDir(bucket), previous.file));
    });
  }

  /** Every object record in the bucket, sorted by key in UTF-8 byte order as OSS lists them. */
  async all(bucket: string): Promise<ObjectMeta[]> {
    const dir = this.bucketDir(bucket);
    const names = (await readdir(dir)).filter((name) => /^[0-9a-f]{64}\.json$/.test(name));
    const records = await Promise.all(names.map((name) => readRecord<ObjectMeta>(join(dir, name))));
    // Each key encoded once, not once per comparison.
    return records
      .filter((meta): meta is ObjectMeta => meta !== undefined && typeof meta.key === 'string')
      .map((meta) => ({ meta, bytes: Buffer.from(meta.key) }))
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
      .map(({ meta }) => meta);
  }
}
