import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyedLock } from '../../util/keyed-lock.js';
import { keepOnly, randomName, readRecord, removeQuietly, writeRecord, type ReceivedBody } from './disk.js';
import { OssError, noSuchUpload } from './errors.js';
import { isPartFile, isSize } from './records.js';
import type { ObjectPart } from './types.js';
import type { CompletePart } from './xml.js';

/** An incomplete multipart upload, stored as `<dataDir>/.uploads/<uploadId>/upload.json`. */
export interface UploadRecord {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: string;
  /** Headers given at initiation (content-type, x-oss-meta-* …); they become the object's. */
  headers: Record<string, string>;
  forbidOverwrite: boolean;
}

/** One uploaded part: `<n>.json` naming its data file `<n>.<rand>.bin`. */
export interface PartRecord {
  partNumber: number;
  file: string;
  size: number;
  /** Quoted upper-case MD5, as returned by UploadPart. */
  etag: string;
  md5: string;
  lastModified: string;
}

/** OSS rejects parts under 100 KB except the last one. */
const MIN_PART_SIZE = 100 * 1024;
const UPLOAD_ID = /^[0-9A-F]{32}$/;
const UPLOAD_RECORD = 'upload.json';

/** A claimed upload's parts, moved out of `.uploads/`, and what the object's record says about them. */
export interface ClaimedParts {
  parts: ObjectPart[];
  size: number;
  /** The OSS multipart ETag: MD5 of the binary part MD5s, then "-<count>". */
  etag: string;
}

export class UploadStore {
  /**
   * Per upload: a part's "move in, record, drop the replaced file", a completion and an abort never
   * interleave, so a completion never lists a part file that is about to disappear.
   */
  private readonly lock = new KeyedLock();

  constructor(private readonly uploadsDir: string) {}

  private dir(uploadId: string): string {
    // The id reaches the disk only after this check, so it cannot name another folder.
    if (!UPLOAD_ID.test(uploadId)) throw noSuchUpload(uploadId);
    return join(this.uploadsDir, uploadId);
  }

  async create(bucket: string, key: string, headers: Record<string, string>, forbidOverwrite: boolean): Promise<UploadRecord> {
    const uploadId = randomName(16).toUpperCase();
    const record: UploadRecord = { uploadId, bucket, key, initiated: new Date().toISOString(), headers, forbidOverwrite };
    await mkdir(this.dir(uploadId), { recursive: true });
    await writeRecord(join(this.dir(uploadId), UPLOAD_RECORD), record);
    return record;
  }

  /** The upload, checked to belong to this bucket and key (an id for another object is NoSuchUpload). */
  async get(uploadId: string, bucket: string, key: string): Promise<UploadRecord> {
    const record = (await readRecord(join(this.dir(uploadId), UPLOAD_RECORD))) as UploadRecord | undefined;
    if (record?.bucket !== bucket || record.key !== key || record.uploadId !== uploadId) throw noSuchUpload(uploadId);
    return record;
  }

  async putPart(upload: UploadRecord, partNumber: number, body: ReceivedBody): Promise<PartRecord> {
    const dir = this.dir(upload.uploadId);
    const recordPath = join(dir, `${partNumber}.json`);
    return this.lock.run(upload.uploadId, async () => {
      const previous = partRecord(await readRecord(recordPath), partNumber);
      const file = `${partNumber}.${randomName()}.bin`;
      try {
        await rename(body.path, join(dir, file));
      } catch (error) {
        // The upload was completed or aborted while this part was arriving.
        await removeQuietly(body.path);
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchUpload(upload.uploadId);
        throw error;
      }
      const md5 = body.md5.toString('hex').toUpperCase();
      const record: PartRecord = { partNumber, file, size: body.size, etag: `"${md5}"`, md5, lastModified: new Date().toISOString() };
      await writeRecord(recordPath, record);
      if (previous) await removeQuietly(join(dir, previous.file));
      return record;
    });
  }

  /** The uploaded parts in order; NoSuchUpload when the upload is gone (completed or aborted meanwhile). */
  async parts(uploadId: string): Promise<PartRecord[]> {
    const dir = this.dir(uploadId);
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'ENOENT' ? noSuchUpload(uploadId) : error;
    });
    const records = await Promise.all(
      names.map(async (name) => {
        const number = /^(\d{1,5})\.json$/.exec(name)?.[1];
        return number === undefined ? undefined : partRecord(await readRecord(join(dir, name)), Number(number));
      }),
    );
    return records.filter((part): part is PartRecord => part !== undefined).sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * Makes the upload the object whose parts folder is `folder`, without copying a byte: `claim` moves
   * the upload's folder there, `commit` writes the object's record, and only then is the upload's
   * bookkeeping (upload.json, part records, parts not listed) dropped. If `commit` fails, the folder is
   * moved back and the upload is as it was, so the completion can be retried; a crash before the
   * record leaves a folder with upload.json in it, which the next start moves back (store.ts `init`).
   */
  async complete<T>(upload: UploadRecord, requested: CompletePart[], folder: string, commit: (claimed: ClaimedParts) => Promise<T>): Promise<T> {
    return this.lock.run(upload.uploadId, async () => {
      const claimed = await this.claim(upload, requested, folder);
      let committed: T;
      try {
        committed = await commit(claimed);
      } catch (error) {
        // No record names the folder yet. Should this rename fail too, the next start moves it back.
        await rename(folder, this.dir(upload.uploadId)).catch(() => undefined);
        throw error;
      }
      await keepOnly(folder, claimed.parts.map((part) => part.file));
      return committed;
    });
  }

  /**
   * The first step of `complete`, run under the upload's lock (tests call it alone to stop where a
   * crash would): checks that the upload still exists, as a concurrent completion or abort may have
   * ended it (NoSuchUpload, as OSS answers), and the client's part list, then moves the whole upload
   * folder to `folder` (one rename in the data dir). A part arriving afterwards finds the upload gone.
   */
  async claim(upload: UploadRecord, requested: CompletePart[], folder: string): Promise<ClaimedParts> {
    const dir = this.dir(upload.uploadId);
    if ((await readRecord(join(dir, UPLOAD_RECORD))) === undefined) throw noSuchUpload(upload.uploadId);
    const chosen = choose(await this.parts(upload.uploadId), requested);
    await rename(dir, folder);
    const md5OfMd5s = createHash('md5');
    for (const part of chosen) md5OfMd5s.update(Buffer.from(part.md5, 'hex'));
    return {
      parts: chosen.map((part) => ({ file: part.file, size: part.size })),
      size: chosen.reduce((sum, part) => sum + part.size, 0),
      etag: `"${md5OfMd5s.digest('hex').toUpperCase()}-${chosen.length}"`,
    };
  }

  /**
   * At start only: `folder` (a parts folder in a bucket that no record names) goes back to the uploads
   * if it still holds its upload.json, i.e. a crash struck between `claim` and the record. False when
   * it is not an upload's, or its id is taken.
   */
  async reopen(folder: string): Promise<boolean> {
    const record = (await readRecord(join(folder, UPLOAD_RECORD))) as Partial<UploadRecord> | undefined;
    if (typeof record?.uploadId !== 'string' || !UPLOAD_ID.test(record.uploadId)) return false;
    const dir = this.dir(record.uploadId);
    if (await stat(dir).then(() => true, () => false)) return false;
    await rename(folder, dir);
    return true;
  }

  /**
   * Aborts the unfinished uploads initiated more than `maxAgeMs` ago, as OSS's lifecycle rule
   * (AbortMultipartUpload after N days) does: a client that died never completes nor aborts its own.
   * Returns how many it removed.
   */
  async sweepOlderThan(maxAgeMs: number, now = Date.now()): Promise<number> {
    const names = await readdir(this.uploadsDir).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      if (!UPLOAD_ID.test(name)) continue;
      const record = (await readRecord(join(this.dir(name), UPLOAD_RECORD))) as Partial<UploadRecord> | undefined;
      const initiated = typeof record?.initiated === 'string' ? Date.parse(record.initiated) : Number.NaN;
      // A folder without a readable record (a crash inside create) is as unfinished as any.
      if (Number.isFinite(initiated) && now - initiated <= maxAgeMs) continue;
      await this.remove(name);
      removed++;
    }
    return removed;
  }

  async remove(uploadId: string): Promise<void> {
    const dir = this.dir(uploadId);
    await this.lock.run(uploadId, () => rm(dir, { recursive: true, force: true }));
  }
}

/** `value` as the record of part `partNumber` if it has the shape putPart writes (its file is removed on replacement). */
function partRecord(value: unknown, partNumber: number): PartRecord | undefined {
  const part = value as Partial<PartRecord> | undefined;
  const valid =
    part?.partNumber === partNumber &&
    isPartFile(part.file, partNumber) &&
    isSize(part.size) &&
    typeof part.md5 === 'string' &&
    /^[0-9A-F]{32}$/.test(part.md5) &&
    typeof part.etag === 'string' &&
    typeof part.lastModified === 'string';
  return valid ? (part as PartRecord) : undefined;
}

/** The stored parts the client listed, in its order, after OSS's checks: ascending numbers, matching ETags, 100 KB minimum. */
function choose(uploaded: readonly PartRecord[], requested: readonly CompletePart[]): PartRecord[] {
  const stored = new Map(uploaded.map((part) => [part.partNumber, part]));
  return requested.map((want, index) => {
    const previous = requested[index - 1];
    if (previous && want.partNumber <= previous.partNumber) {
      throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
    }
    const part = stored.get(want.partNumber);
    if (!part || normaliseEtag(want.etag) !== normaliseEtag(part.etag)) {
      throw new OssError(400, 'InvalidPart', 'One or more of the specified parts could not be found or the specified entity tag might not have matched the part\'s entity tag.', {
        PartNumber: String(want.partNumber),
        ETag: want.etag,
      });
    }
    if (index < requested.length - 1 && part.size < MIN_PART_SIZE) {
      throw new OssError(400, 'EntityTooSmall', `Your proposed upload is smaller than the minimum allowed size (${MIN_PART_SIZE} bytes per part, except the last).`, {
        PartNumber: String(want.partNumber),
      });
    }
    return part;
  });
}

function normaliseEtag(etag: string): string {
  return etag.replace(/"/g, '').trim().toUpperCase();
}
