import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { assertBucketName, isValidBucketName } from './address.js';
import { KeyedLock } from '../../util/keyed-lock.js';
import { randomName, readRecord, removeQuietly, writeRecord } from './disk.js';
import { fileAlreadyExists, noSuchBucket } from './errors.js';
import { ReadLeases } from './leases.js';
import { RECORD_NAME, fileId, objectRecord } from './records.js';
import { openSegments } from './segments.js';
import { sweepBucket } from './sweep.js';
import type { ObjectData, ObjectMeta } from './types.js';
import { UploadStore } from './upload-store.js';

/*
 * Disk layout:
 *   <dataDir>/<bucket>/<sha256(key)>.json         the object's record (ObjectMeta, including the key)
 *   <dataDir>/<bucket>/<sha256(key)>.<rand>.bin   its bytes; a new name per write
 *   <dataDir>/<bucket>/<sha256(key)>.<rand>.parts/ or, for a completed multipart upload, its part files
 *                                                 as uploaded (<n>.<rand>.bin), listed in order in the record
 *   <dataDir>/.uploads/<uploadId>/                incomplete multipart uploads (upload-store.ts)
 *   <dataDir>/.tmp/                               bodies being received
 * Keys never become paths: a key may be 1023 bytes, hold "a" and "a/b" at once, or be hostile, and a
 * hash sidesteps all of that. The only user text in a path is a validated bucket name, and a record's
 * names are checked (records.ts) before they are opened or removed.
 */

/** Puts an object's bytes at `target`, then has `write` commit the record describing them. */
export type Place = (target: string, write: (data: ObjectData) => Promise<ObjectMeta>) => Promise<ObjectMeta>;

export class ObjectStore {
  readonly tmpDir: string;
  readonly uploadsDir: string;
  readonly uploads: UploadStore;
  private readonly lock = new KeyedLock();
  private readonly leases = new ReadLeases();

  constructor(readonly dataDir: string) {
    this.tmpDir = join(dataDir, '.tmp');
    this.uploadsDir = join(dataDir, '.uploads');
    this.uploads = new UploadStore(this.uploadsDir);
  }

  /**
   * Creates the layout and clears what a crash left (one server per data dir, so nothing is being
   * written): bodies in `.tmp/` are dropped, and each bucket is swept (sweep.ts).
   */
  async init(buckets: readonly string[]): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.uploadsDir, { recursive: true });
    // Buckets exist only through this option: the store has no bucket administration over the wire.
    for (const bucket of buckets) await mkdir(this.bucketDir(bucket), { recursive: true });
    for (const entry of await readdir(this.dataDir, { withFileTypes: true })) {
      if (entry.isDirectory() && isValidBucketName(entry.name)) await sweepBucket(join(this.dataDir, entry.name), this.uploads);
    }
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

  private recordPath(bucket: string, key: string): string {
    return join(this.bucketDir(bucket), `${fileId(key)}.json`);
  }

  /** The key's record; `undefined` when there is none, or none the store could have written (records.ts). */
  async head(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    const meta = objectRecord(await readRecord(this.recordPath(bucket, key)));
    return meta?.key === key ? meta : undefined;
  }

  /**
   * Opens bytes `start`–`end` of the object `meta` describes, holding off the removal of its files
   * until the stream closes (leases.ts). `undefined` when they are gone or going: an overwrite or
   * delete replaced the record after `meta` was read, so read the record again.
   */
  async read(bucket: string, meta: ObjectMeta, start: number, end: number): Promise<Readable | undefined> {
    const data = join(this.bucketDir(bucket), meta.file);
    const release = this.leases.take(data);
    if (!release) return undefined;
    const segments = meta.parts?.map((part) => ({ path: join(data, part.file), size: part.size })) ?? [{ path: data, size: meta.size }];
    try {
      const body = await openSegments(segments, start, end);
      if (body) body.once('close', release);
      else release();
      return body;
    } catch (error) {
      release();
      throw error;
    }
  }

  /**
   * Moves a received temp file into the bucket and commits its record. With `forbidOverwrite`, an
   * existing object makes it fail with 409 FileAlreadyExists and the temp file is discarded.
   */
  async commit(bucket: string, key: string, tmpPath: string, data: ObjectData, forbidOverwrite: boolean): Promise<ObjectMeta> {
    const place: Place = async (target, write) => {
      await rename(tmpPath, target);
      try {
        return await write(data);
      } catch (error) {
        await removeQuietly(target);
        throw error;
      }
    };
    try {
      return await this.commitWith(bucket, key, '.bin', place, forbidOverwrite);
    } catch (error) {
      await removeQuietly(tmpPath);
      throw error;
    }
  }

  /**
   * Commits a completed multipart upload without copying a byte: `place` moves the upload's folder to
   * the target and has the record written (UploadStore.complete). It runs only after the
   * `forbidOverwrite` check, so a refused upload is left as it was.
   */
  async commitMultipart(bucket: string, key: string, place: Place, forbidOverwrite: boolean): Promise<ObjectMeta> {
    return this.commitWith(bucket, key, '.parts', place, forbidOverwrite);
  }

  /**
   * Under the key's lock: `place` puts the bytes at a fresh name and has the record replaced, which
   * commits (if that write fails, `place` undoes its move: a PUT's body is dropped, an upload's folder
   * goes back to `.uploads/`); only then are the previous bytes removed. A crash at any point leaves
   * at worst files no record names, which the next start puts back or removes (sweep.ts), never a
   * record naming missing ones.
   */
  private async commitWith(bucket: string, key: string, suffix: '.bin' | '.parts', place: Place, forbidOverwrite: boolean): Promise<ObjectMeta> {
    const dir = this.bucketDir(bucket);
    const recordPath = this.recordPath(bucket, key);
    return this.lock.run(recordPath, async () => {
      const previous = await this.head(bucket, key);
      if (previous && forbidOverwrite) throw fileAlreadyExists(key);
      const file = `${fileId(key)}.${randomName()}${suffix}`;
      const record = await place(join(dir, file), async (data) => {
        const meta: ObjectMeta = { ...data, key, file, lastModified: new Date().toISOString() };
        await writeRecord(recordPath, meta);
        return meta;
      });
      // Downloads of the previous bytes finish first (leases.ts).
      if (previous) await this.leases.remove(join(dir, previous.file));
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
      await this.leases.remove(join(this.bucketDir(bucket), previous.file));
    });
  }

  /** Every object record in the bucket, sorted by key in UTF-8 byte order as OSS lists them. */
  async all(bucket: string): Promise<ObjectMeta[]> {
    const dir = this.bucketDir(bucket);
    const names = (await readdir(dir)).filter((name) => RECORD_NAME.test(name));
    const records = await Promise.all(names.map(async (name) => objectRecord(await readRecord(join(dir, name)))));
    // Each key encoded once, not once per comparison.
    return records
      .filter((meta): meta is ObjectMeta => meta !== undefined)
      .map((meta) => ({ meta, bytes: Buffer.from(meta.key) }))
      .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
      .map(({ meta }) => meta);
  }
}
