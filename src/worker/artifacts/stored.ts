import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { TOKENED_URL_TTL_SECONDS, type RepoAccess } from '../git/access.js';
import { FerryError, toFerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { contentDisposition } from '../storage/keys.js';
import { uploadStream } from '../storage/upload.js';
import type { Phase } from '../../protocol/job.js';
import type { ArtifactStream, BuildContext, ProgressDetail } from './types.js';

const PROGRESS_INTERVAL_MS = 200;

export interface StoreTarget {
  key: string;
  filename: string;
  contentType: string;
  /** Names the artifact in the size-limit message (`archive`, `bundle`). */
  label: string;
  /** The phase the bytes are produced in: progress reports bytes under it. */
  streamPhase: Phase;
  /** The largest object allowed and the variable that sets it; default FERRY_MAX_ARCHIVE_BYTES (files pass FERRY_MAX_FILE_BYTES). */
  limit?: SizeLimit;
  /** The stream's size when known before it starts (a file's Content-Length): progress then has total and percent. */
  total?: number | undefined;
}

export interface SizeLimit {
  bytes: number;
  /** Named in the TOO_LARGE message, so an operator knows what to raise. */
  variable: string;
}

export interface StoredObject {
  size: number;
  sha256: string;
}

// The one upload path for every kind: hash, limit and upload a produced stream, then give back what the
// producer held. The caller writes whatever marks the object whole (a manifest, a chain) afterwards.
export async function storeStream(artifact: ArtifactStream, target: StoreTarget, ctx: BuildContext): Promise<StoredObject> {
  const { config, store } = ctx;
  const limit = target.limit ?? { bytes: config.maxArchiveBytes, variable: 'FERRY_MAX_ARCHIVE_BYTES' };
  const streamed = (bytes: number): ProgressDetail =>
    target.total === undefined ? { bytes } : { bytes, total: target.total, percent: Math.min(100, Math.floor((bytes / Math.max(target.total, 1)) * 100)) };
  ctx.progress(target.streamPhase, streamed(0));
  const abort = (): void => artifact.kill();
  ctx.signal?.addEventListener('abort', abort, { once: true });
  // An abort that came while the producer was starting has no listener to hear it.
  if (ctx.signal?.aborted) abort();
  const hash = createHash('sha256');
  let produced = 0;
  let lastReport = Date.now();
  let complete = false;
  let uploadedBytes = 0;
  const reportUpload = (): void => {
    ctx.progress('uploading', { bytes: uploadedBytes, total: produced, percent: Math.floor((uploadedBytes / Math.max(produced, 1)) * 100) });
  };
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of artifact.bytes) {
      produced += chunk.length;
      if (produced > limit.bytes) {
        throw new FerryError('TOO_LARGE', `The ${target.label} is larger than this service's limit of ${formatBytes(limit.bytes)} (${limit.variable}).`);
      }
      hash.update(chunk);
      // Intermediate progress is throttled downstream anyway; building thousands of messages is not free.
      if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = Date.now();
        ctx.progress(target.streamPhase, streamed(produced));
      }
      yield chunk;
    }
    await artifact.done;
    complete = true;
    reportUpload();
  }

  try {
    const { size } = await uploadStream(store, target.key, hashed(), {
      partSize: config.oss.partSize,
      partsInFlight: config.oss.partsInFlight,
      headers: { 'Content-Type': target.contentType, 'Content-Disposition': contentDisposition(target.filename) },
      onUploaded: (bytes) => {
        uploadedBytes = bytes;
        if (complete) reportUpload();
      },
    });
    return { size, sha256: hash.digest('hex') };
  } catch (error) {
    artifact.kill();
    await artifact.done.catch(() => undefined);
    if (ctx.signal?.aborted) throw new FerryError('TIMEOUT', 'The job took longer than this service allows and was stopped.', { cause: error });
    // Store failures arrive as STORAGE_FAILED already (storage/oss-store.ts); anything else is not storage's.
    throw toFerryError(error);
  } finally {
    ctx.signal?.removeEventListener('abort', abort);
    artifact.close();
  }
}

/** A GET URL for `key` that saves as `filename`, valid for the configured TTL. */
export async function signObject(store: ObjectStore, key: string, filename: string, config: Config, access?: RepoAccess): Promise<{ url: string; expiresAt: string }> {
  // A private repository's artifact: whoever holds the URL reads it, so it lives minutes, not an hour.
  const ttl = access ? Math.min(config.urlTtlSeconds, TOKENED_URL_TTL_SECONDS) : config.urlTtlSeconds;
  const url = await store.signGetUrl(key, ttl, { 'response-content-disposition': contentDisposition(filename) });
  return { url, expiresAt: new Date(Date.now() + ttl * 1000).toISOString() };
}
