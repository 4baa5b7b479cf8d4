import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { ObjectStore } from './oss-store.js';

/*
 * A multipart upload whose worker dies (SIGKILL, out of memory, a reclaimed instance) stays in the bucket:
 * OSS keeps its parts, unbilled as objects but billed as storage, until someone aborts it. So each upload
 * a job starts is recorded beside the build leases, as `uploads/<jobId>/<sha256(key, uploadId)>.json`
 * holding {key, uploadId, job, owner, startedAt, renewedAt}; the record is rewritten every `renewMs` while
 * the upload goes on and deleted once it is completed or aborted. A record left behind names a dead upload:
 * - the job's next attempt aborts the uploads recorded for its job at once (FC runs an event again only
 *   after the attempt before failed, as with the build lease);
 * - any instance, when it starts (warm-up), aborts uploads whose record was not renewed for `staleAfterMs`.
 * Records are best effort: failing to write one never fails the upload, and the bucket's lifecycle rule
 * for unfinished uploads remains the last resort.
 */

export const UPLOADS_PREFIX = 'uploads/';

export interface UploadRecord {
  key: string;
  uploadId: string;
  job: string;
  owner: string;
  startedAt: number;
  renewedAt: number;
}

export interface TrackOptions {
  job: string;
  renewMs: number;
  clock?: () => number;
}

function recordKey(job: string, key: string, uploadId: string): string {
  return `${UPLOADS_PREFIX}${job}/${createHash('sha256').update(`${key}\n${uploadId}`).digest('hex')}.json`;
}

/** `store`, with every multipart upload started through it recorded until it is completed or aborted. */
export function trackUploads(store: ObjectStore, options: TrackOptions): ObjectStore {
  const clock = options.clock ?? Date.now;
  const live = new Map<string, NodeJS.Timeout>();
  const write = (record: UploadRecord): Promise<void> =>
    store.put(recordKey(record.job, record.key, record.uploadId), Buffer.from(JSON.stringify(record)), { 'content-type': 'application/json' }).catch(() => undefined);
  const forget = async (key: string, uploadId: string): Promise<void> => {
    clearInterval(live.get(uploadId));
    live.delete(uploadId);
    await store.delete(recordKey(options.job, key, uploadId)).catch(() => undefined);
  };
  // Every method forwarded explicitly: `store` may be a class instance, whose methods a spread would miss.
  return {
    put: (key, body, headers) => store.put(key, body, headers),
    getText: (key) => store.getText(key),
    getStream: (key) => store.getStream(key),
    putIfAbsent: (key, body, headers) => store.putIfAbsent(key, body, headers),
    delete: (key) => store.delete(key),
    list: (prefix) => store.list(prefix),
    uploadPart: (key, uploadId, partNumber, body) => store.uploadPart(key, uploadId, partNumber, body),
    signGetUrl: (key, expiresSeconds, query) => store.signGetUrl(key, expiresSeconds, query),
    async initMultipart(key, headers) {
      const uploadId = await store.initMultipart(key, headers);
      const now = clock();
      const record: UploadRecord = { key, uploadId, job: options.job, owner: `${hostname()}:${process.pid}`, startedAt: now, renewedAt: now };
      await write(record);
      const timer = setInterval(() => void write({ ...record, renewedAt: clock() }), options.renewMs);
      timer.unref();
      live.set(uploadId, timer);
      return uploadId;
    },
    async completeMultipart(key, uploadId, parts) {
      await store.completeMultipart(key, uploadId, parts);
      await forget(key, uploadId);
    },
    async abortMultipart(key, uploadId) {
      try {
        await store.abortMultipart(key, uploadId);
      } finally {
        await forget(key, uploadId);
      }
    },
  };
}

export interface SweepOptions {
  /** Only the uploads of this job, whatever their age (its earlier attempt is gone). */
  job?: string;
  /** Otherwise, uploads whose record was not renewed for this long. */
  staleAfterMs?: number;
  clock?: () => number;
}

/** Aborts the dead uploads the records name and removes their records; returns how many it aborted. */
export async function abortDeadUploads(store: ObjectStore, options: SweepOptions): Promise<number> {
  const clock = options.clock ?? Date.now;
  const listed = await store.list(options.job === undefined ? UPLOADS_PREFIX : `${UPLOADS_PREFIX}${options.job}/`);
  let aborted = 0;
  for (const { key: objectKey } of listed) {
    const record = parse(await store.getText(objectKey).catch(() => undefined));
    if (!record) continue;
    const dead = options.job !== undefined || (options.staleAfterMs !== undefined && clock() - record.renewedAt > options.staleAfterMs);
    if (!dead) continue;
    // Already gone (completed or aborted before its record was removed) is as good as aborted.
    await store.abortMultipart(record.key, record.uploadId).catch(() => undefined);
    await store.delete(objectKey).catch(() => undefined);
    aborted++;
  }
  return aborted;
}

function parse(text: string | undefined): UploadRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<UploadRecord>;
    const valid = typeof value.key === 'string' && typeof value.uploadId === 'string' && typeof value.job === 'string' && Number.isFinite(value.renewedAt);
    return valid ? (value as UploadRecord) : undefined;
  } catch {
    return undefined;
  }
}
