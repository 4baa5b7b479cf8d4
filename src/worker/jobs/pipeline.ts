import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { FerryError, toFerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import { archiveStream, type ArchiveFormat } from '../git/archive.js';
import type { MirrorCache } from '../git/mirror.js';
import type { RepoRef } from '../git/url.js';
import type { ObjectStore } from '../storage/client.js';
import { archiveFilename, archiveKeys, CONTENT_TYPES, contentDisposition } from '../storage/keys.js';
import { uploadStream } from '../storage/upload.js';
import type { DoneResult, Phase, ProgressMessage } from '../../protocol/job.js';

const PROGRESS_INTERVAL_MS = 200;

/** What the cache keeps beside each archive; written last, so its presence means the archive is whole. */
export interface ArchiveManifest {
  v: 1;
  repo: string;
  commit: string;
  format: ArchiveFormat;
  filename: string;
  size: number;
  sha256: string;
  createdAt: number;
}

export interface PipelineContext {
  config: Config;
  store: ObjectStore;
  mirrors: MirrorCache;
  signal?: AbortSignal | undefined;
  /** Progress without the envelope (`v`, `type`, `jobId`, `ts`), which the reporter adds. */
  progress(phase: Phase, detail?: Omit<ProgressMessage, 'v' | 'type' | 'jobId' | 'ts' | 'phase'>): void;
}

export interface ArchiveRequest {
  repo: RepoRef;
  ref: string;
  commit: string;
  format: ArchiveFormat;
}

/** A cache hit: the archive already exists for this exact commit and format. */
export async function lookupCached(store: ObjectStore, request: ArchiveRequest, config: Config): Promise<DoneResult | undefined> {
  const keys = archiveKeys(request.repo.canonical, request.commit, request.format);
  const text = await store.getText(keys.manifest);
  if (text === undefined) return undefined;
  const manifest = JSON.parse(text) as ArchiveManifest;
  return sign(store, keys.object, manifest, request.ref, true, config);
}

/** Fetch → archive → upload → sign. Emits a phase change at each step and throttled detail within. */
export async function buildArchive(request: ArchiveRequest, ctx: PipelineContext): Promise<DoneResult> {
  const { repo, commit, format } = request;
  const { config, store } = ctx;
  ctx.progress('resolving', { percent: 100, message: `${request.ref} → ${commit.slice(0, 12)}` });
  const cached = await lookupCached(store, request, config);
  if (cached) return cached;

  ctx.progress('fetching', { percent: 0, message: `fetching ${repo.canonical}` });
  const mirror = await ctx.mirrors.fetch(
    repo,
    commit,
    (p) => ctx.progress('fetching', { percent: p.percent, message: `${p.stage} ${p.processed}/${p.total}` }),
    ctx.signal,
  );

  ctx.progress('archiving', { bytes: 0 });
  const keys = archiveKeys(repo.canonical, commit, format);
  const filename = archiveFilename(repo.name, commit, format);
  const archive = archiveStream(mirror.gitDir, commit, format, filename.slice(0, -(format.length + 1)));
  const abort = (): void => archive.kill();
  ctx.signal?.addEventListener('abort', abort, { once: true });
  const hash = createHash('sha256');
  let produced = 0;
  let lastReport = Date.now();
  let archived = false;
  let uploadedBytes = 0;
  const reportUpload = (): void => {
    ctx.progress('uploading', { bytes: uploadedBytes, total: produced, percent: Math.floor((uploadedBytes / Math.max(produced, 1)) * 100) });
  };
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of archive.stdout as AsyncIterable<Buffer>) {
      produced += chunk.length;
      if (produced > config.maxArchiveBytes) {
        throw new FerryError('TOO_LARGE', `The archive is larger than this service's limit of ${formatBytes(config.maxArchiveBytes)}.`);
      }
      hash.update(chunk);
      // Intermediate progress is throttled downstream anyway; building thousands of messages is not free.
      if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = Date.now();
        ctx.progress('archiving', { bytes: produced });
      }
      yield chunk;
    }
    await archive.done;
    archived = true;
    reportUpload();
  }

  let size: number;
  try {
    ({ size } = await uploadStream(store, keys.object, hashed(), {
      partSize: config.oss.partSize,
      partsInFlight: config.oss.partsInFlight,
      headers: { 'Content-Type': CONTENT_TYPES[format], 'Content-Disposition': contentDisposition(filename) },
      onUploaded: (bytes) => {
        uploadedBytes = bytes;
        if (archived) reportUpload();
      },
    }));
  } catch (error) {
    archive.kill();
    await archive.done.catch(() => undefined);
    if (ctx.signal?.aborted) throw new FerryError('TIMEOUT', 'The job took longer than this service allows and was stopped.', { cause: error });
    // Store failures arrive as STORAGE_FAILED already (storage/client.ts); anything else is not storage's.
    throw toFerryError(error);
  } finally {
    ctx.signal?.removeEventListener('abort', abort);
    mirror.release();
  }

  const manifest: ArchiveManifest = { v: 1, repo: repo.canonical, commit, format, filename, size, sha256: hash.digest('hex'), createdAt: Date.now() };
  await store.put(keys.manifest, Buffer.from(JSON.stringify(manifest)), { 'Content-Type': 'application/json' });
  ctx.progress('signing');
  return sign(store, keys.object, manifest, request.ref, false, config);
}

async function sign(store: ObjectStore, key: string, manifest: ArchiveManifest, ref: string, cached: boolean, config: Config): Promise<DoneResult> {
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
