import { createHash } from 'node:crypto';
import type { ArtifactKind, ArtifactRequest, ProduceContext } from '../artifacts/types.js';
import type { Config } from '../config.js';
import { FerryError, toFerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { contentDisposition } from '../storage/keys.js';
import { uploadStream } from '../storage/upload.js';
import type { DoneResult } from '../../protocol/job.js';

const PROGRESS_INTERVAL_MS = 200;

/** What the cache keeps beside each artifact; written last, so its presence means the artifact is whole. */
export interface ArtifactManifest extends Pick<ArtifactRequest, 'commit' | 'format'> {
  v: 1;
  /** Absent in manifests written before kinds: those are archives. */
  kind?: string;
  repo: string;
  filename: string;
  size: number;
  sha256: string;
  createdAt: number;
}

export interface BuildContext extends ProduceContext {
  store: ObjectStore;
}

export async function lookupCached(kind: ArtifactKind, store: ObjectStore, request: ArtifactRequest, config: Config): Promise<DoneResult | undefined> {
  const keys = kind.keys(request);
  const text = await store.getText(keys.manifest);
  if (text === undefined) return undefined;
  const manifest = JSON.parse(text) as ArtifactManifest;
  return sign(store, keys.object, manifest, request.ref, true, config);
}

// The one build path for every kind: cache → produce → hash, limit and upload → manifest → sign.
export async function buildArtifact(kind: ArtifactKind, request: ArtifactRequest, ctx: BuildContext): Promise<DoneResult> {
  const { config, store } = ctx;
  ctx.progress('resolving', { percent: 100, message: `${request.ref} → ${request.commit.slice(0, 12)}` });
  const cached = await lookupCached(kind, store, request, config);
  if (cached) return cached;

  const keys = kind.keys(request);
  const { filename, contentType } = kind.meta(request);
  const streamPhase = kind.phases.at(-1) ?? 'uploading';
  const artifact = await kind.produce(request, ctx);
  ctx.progress(streamPhase, { bytes: 0 });
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
      if (produced > config.maxArchiveBytes) {
        throw new FerryError('TOO_LARGE', `The ${kind.name} is larger than this service's limit of ${formatBytes(config.maxArchiveBytes)}.`);
      }
      hash.update(chunk);
      // Intermediate progress is throttled downstream anyway; building thousands of messages is not free.
      if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = Date.now();
        ctx.progress(streamPhase, { bytes: produced });
      }
      yield chunk;
    }
    await artifact.done;
    complete = true;
    reportUpload();
  }

  let size: number;
  try {
    ({ size } = await uploadStream(store, keys.object, hashed(), {
      partSize: config.oss.partSize,
      partsInFlight: config.oss.partsInFlight,
      headers: { 'Content-Type': contentType, 'Content-Disposition': contentDisposition(filename) },
      onUploaded: (bytes) => {
        uploadedBytes = bytes;
        if (complete) reportUpload();
      },
    }));
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

  const { repo, commit, format } = request;
  const manifest: ArtifactManifest = { v: 1, kind: kind.name, repo: repo.canonical, commit, format, filename, size, sha256: hash.digest('hex'), createdAt: Date.now() };
  await store.put(keys.manifest, Buffer.from(JSON.stringify(manifest)), { 'Content-Type': 'application/json' });
  ctx.progress('signing');
  return sign(store, keys.object, manifest, request.ref, false, config);
}

async function sign(store: ObjectStore, key: string, manifest: ArtifactManifest, ref: string, cached: boolean, config: Config): Promise<DoneResult> {
  const ttl = config.urlTtlSeconds;
  const url = await store.signGetUrl(key, ttl, { 'response-content-disposition': contentDisposition(manifest.filename) });
  return {
    url,
    expiresAt: new Date(Date.now() + ttl * 1000).toISOString(),
    filename: manifest.filename,
    size: manifest.size,
    sha256: manifest.sha256,
    commit: manifest.commit,
    ref,
    format: manifest.format,
    cached,
  };
}
