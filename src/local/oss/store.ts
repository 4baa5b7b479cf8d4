import { createHash } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assertBucketName } from './address.js';
import { KeyedLock, randomName, readRecord, removeQuietly, writeRecord } from './disk.js';
import { OssError, fileAlreadyExists, noSuchBucket } from './errors.js';
import type { ObjectMeta } from './types.js';

/*
 * Disk layout:
 *   <dataDir>/<bucket>/<sha256(key)>.json         the object's record (ObjectMeta, including the key)
 *   <dataDir>/<bucket>/<sha256(key)>.<rand>.bin   its bytes; a new name per write
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
   * Opens an object for reading. A concurrent overwrite may delete the data file between reading the
   * record and opening the file; then the new record is read again. An open handle survives deletion.
   */
  async open(bucket: string, key: string): Promise<{ meta: ObjectMeta; handle: FileHandle } | undefined> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const meta = await this.head(bucket, key);
      if (!meta) return undefined;
      try {
        return { meta, handle: await open(join(this.bucketDir(bucket), meta.file), 'r') };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    return undefined;
  }

  /**
   * Moves a received temp file into the bucket and commits its record. With `forbidOverwrite`, an
   * existing object makes it fail with 409 FileAlreadyExists and the temp file is discarded.
   */
  async commit(
    bucket: string,
    key: string,
    tmpPath: string,
    meta: Omit<ObjectMeta, 'key' | 'file' | 'lastModified'>,
    forbidOverwrite: boolean,
  ): Promise<ObjectMeta> {
    const dir = this.bucketDir(bucket);
    const recordPath = this.recordPath(bucket, key);
    return this.lock.run(recordPath, async () => {
      const previous = await this.head(bucket, key);
      if (previous && forbidOverwrite) {
        await removeQuietly(tmpPath);
        throw fileAlreadyExists(key);
      }
      const file = `${fileId(key)}.${randomName()}.bin`;
      await rename(tmpPath, join(dir, file));
      const record: ObjectMeta = { ...meta, key, file, lastModified: new Date().toISOString() };
      await writeRecord(recordPath, record);
      if (previous) await removeQuietly(join(dir, previous.file));
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
      await removeQuietly(join(this.bucketDir(bucket), previous.file));
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
