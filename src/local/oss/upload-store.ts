import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { KeyedLock, randomName, readRecord, removeQuietly, writeRecord, type ReceivedBody } from './disk.js';
import { OssError, noSuchUpload } from './errors.js';
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

export class UploadStore {
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
    return this.lock.run(recordPath, async () => {
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
   * Checks the client's part list against what was uploaded and concatenates the parts, streaming, into
   * a temp file. Returns that file and the OSS multipart ETag: MD5 of the binary part MD5s, "-<count>".
   */
  async assemble(upload: UploadRecord, requested: CompletePart[], tmpDir: string): Promise<{ path: string; size: number; etag: string }> {
    const stored = new Map((await this.parts(upload.uploadId)).map((part) => [part.partNumber, part]));
    const chosen: PartRecord[] = [];
    requested.forEach((want, index) => {
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
      chosen.push(part);
    });
    const dir = this.dir(upload.uploadId);
    const path = join(tmpDir, `${randomName()}.part`);
    async function* concatenated(): AsyncGenerator<Buffer> {
      for (const part of chosen) yield* createReadStream(join(dir, part.file));
    }
    try {
      await pipeline(concatenated, createWriteStream(path, { flags: 'wx' }));
    } catch (error) {
      await removeQuietly(path);
      throw error;
    }
    const md5OfMd5s = createHash('md5');
    for (const part of chosen) md5OfMd5s.update(Buffer.from(part.md5, 'hex'));
    const etag = `"${md5OfMd5s.digest('hex').toUpperCase()}-${chosen.length}"`;
    return { path, size: chosen.reduce((sum, part) => sum + part.size, 0), etag };
  }

  async remove(uploadId: string): Promise<void> {
    await rm(this.dir(uploadId), { recursive: true, force: true });
  }
}

function normaliseEtag(etag: string): string {
  return etag.replace(/"/g, '').trim().toUpperCase();
}
