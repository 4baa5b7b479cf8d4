import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyedLock, randomName, readRecord, removeQuietly, writeRecord, type ReceivedBody } from './disk.js';
import { OssError, noSuchUpload } from './errors.js';
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

/** A completed upload's parts, moved out of `.uploads/`, and what the object's record says about them. */
export interface ClaimedParts {
  parts: ObjectPart[];
  size: number;
  /** The OSS multipart ETag: MD5 of the binary part MD5s, then "-<count>". */
  etag: string;
}

export class UploadStore {
  /**
   * Per upload: a part's "move in, record, drop the replaced file", a completion's move and an abort
   * never interleave, so a completion never lists a part file that is about to disappear.
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
    await writeRecord(join(this.dir(uploadId), 'upload.json'), record);
    return record;
  }

  /** The upload, checked to belong to this bucket and key (an id for another object is NoSuchUpload). */
  async get(uploadId: string, bucket: string, key: string): Promise<UploadRecord> {
    const record = await readRecord<UploadRecord>(join(this.dir(uploadId), 'upload.json'));
    if (!record || record.bucket !== bucket || record.key !== key) throw noSuchUpload(uploadId);
    return record;
  }

  async putPart(upload: UploadRecord, partNumber: number, body: ReceivedBody): Promise<PartRecord> {
    const dir = this.dir(upload.uploadId);
    const recordPath = join(dir, `${partNumber}.json`);
    return this.lock.run(upload.uploadId, async () => {
      const previous = await readRecord<PartRecord>(recordPath);
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

  async parts(uploadId: string): Promise<PartRecord[]> {
    const dir = this.dir(uploadId);
    const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => /^\d+\.json$/.test(name));
    const records = await Promise.all(names.map((name) => readRecord<PartRecord>(join(dir, name))));
    return records.filter((part): part is PartRecord => part !== undefined).sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * Checks the client's part list against what was uploaded, then moves the whole upload folder to
   * `folder` (one rename in the data dir: no byte is copied) and trims it to the chosen part files. A
   * part arriving afterwards finds the upload gone (NoSuchUpload). Throws having moved nothing.
   */
  async claim(upload: UploadRecord, requested: CompletePart[], folder: string): Promise<ClaimedParts> {
    return this.lock.run(upload.uploadId, async () => {
      const dir = this.dir(upload.uploadId);
      const chosen = choose(await this.parts(upload.uploadId), requested);
      try {
        await rename(dir, folder);
      } catch (error) {
        // Aborted, or completed by a concurrent request, since it was looked up.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchUpload(upload.uploadId);
        throw error;
      }
      const kept = new Set(chosen.map((part) => part.file));
      const extra = (await readdir(folder)).filter((name) => !kept.has(name));
      await Promise.all(extra.map((name) => removeQuietly(join(folder, name))));
      const md5OfMd5s = createHash('md5');
      for (const part of chosen) md5OfMd5s.update(Buffer.from(part.md5, 'hex'));
      return {
        parts: chosen.map((part) => ({ file: part.file, size: part.size })),
        size: chosen.reduce((sum, part) => sum + part.size, 0),
        etag: `"${md5OfMd5s.digest('hex').toUpperCase()}-${chosen.length}"`,
      };
    });
  }

  async remove(uploadId: string): Promise<void> {
    const dir = this.dir(uploadId);
    await this.lock.run(uploadId, () => rm(dir, { recursive: true, force: true }));
  }
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
