import type { ObjectStore } from './oss-store.js';
import { retryTransient, settleInBackground } from './transient.js';

export interface UploadOptions {
  /** The largest part; parts start smaller and grow to it (see `partSizeFor`). */
  partSize: number;
  partsInFlight: number;
  headers?: Record<string, string>;
  onUploaded?: (bytes: number) => void;
}

export interface UploadResult {
  size: number;
  multipart: boolean;
}

/** OSS's smallest part (except the last) is 100 KB; parts start at 1 MiB (or `max`, if smaller). */
const FIRST_PART = 1024 * 1024;
const MIN_PART = 100 * 1024;
const PARTS_PER_SIZE = 8;

// The last part is uploaded only once the archive has ended, so it is what a job waits for at its end:
// growing parts keep it small for small archives, while a large one soon uses `max` and stays far below
// OSS's 10,000-part limit.
export function partSizeFor(number: number, max: number): number {
  const cap = Math.max(MIN_PART, max);
  const first = Math.min(FIRST_PART, cap);
  return Math.min(cap, first * 2 ** Math.floor((number - 1) / PARTS_PER_SIZE));
}

export const MAX_PARTS = 10_000;

export function multipartCapacity(max: number): number {
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n++) total += partSizeFor(n, max);
  return total;
}

// Memory is at most partSize × (partsInFlight + 1) whatever the archive's size: reading waits while parts
// upload. A body that ends before the first part fills goes as one PUT. A part (or the one PUT) that fails transiently is
// sent again (transient.ts). On any failure the multipart upload is aborted (retried in the background
// while storage is unavailable), so no object and no orphaned parts are left behind.
export async function uploadStream(store: ObjectStore, key: string, source: AsyncIterable<Buffer>, options: UploadOptions): Promise<UploadResult> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  let uploaded = 0;
  let uploadId: string | undefined;
  let partCount = 0;
  const parts: { number: number; etag: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;

  const startPart = (body: Buffer): void => {
    const number = ++partCount;
    const id = uploadId as string;
    // A part is a buffer: sent again whole after a 5xx or a dropped connection.
    const task: Promise<void> = retryTransient(() => store.uploadPart(key, id, number, body)).then(
      (etag) => {
        parts.push({ number, etag });
        uploaded += body.length;
        options.onUploaded?.(uploaded);
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  const takePending = (): Buffer => {
    const body = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return body;
  };

  try {
    for await (const chunk of source) {
      if (failure) throw failure;
      total += chunk.length;
      // Cut chunks at part boundaries: every part but the last is exactly its scheduled size.
      for (let offset = 0; offset < chunk.length; ) {
        const size = partSizeFor(partCount + 1, options.partSize);
        const take = Math.min(chunk.length - offset, size - pendingBytes);
        pending.push(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
        pendingBytes += take;
        offset += take;
        if (pendingBytes < size) continue;
        uploadId ??= await store.initMultipart(key, options.headers);
        startPart(takePending());
        while (inFlight.size >= options.partsInFlight) await Promise.race(inFlight);
        if (failure) throw failure;
      }
    }
    if (uploadId === undefined) {
      const body = takePending();
      await retryTransient(() => store.put(key, body, options.headers));
      options.onUploaded?.(total);
      return { size: total, multipart: false };
    }
    if (pendingBytes > 0) startPart(takePending());
    await Promise.all(inFlight);
    if (failure) throw failure;
    parts.sort((a, b) => a.number - b.number);
    await store.completeMultipart(key, uploadId, parts);
    return { size: total, multipart: true };
  } catch (error) {
    await Promise.allSettled(inFlight);
    // Storage down now is why many uploads fail: the abort goes on until it is back.
    if (uploadId !== undefined) await settleInBackground(`aborting the upload of ${key}`, () => store.abortMultipart(key, uploadId as string));
    throw error;
  }
}
