import { randomBytes } from 'node:crypto';
import { FerryError } from '../../protocol/errors.js';
import { parseFileUrl } from '../../protocol/file-url.js';
import type { DoneResult } from '../../protocol/job.js';
import { checkDestination, openUpstream, type UpstreamFile } from '../files/upstream.js';
import { fileKeys } from '../storage/keys.js';
import { readEntry, serveEntry, writeEntry, type FileEntry } from './file-cache.js';
import { fileUrlPolicy } from './file-hosts.js';
import { fileRevision } from './file-revision.js';
import { storeStream } from './stored.js';
import type { BuildContext, FileKind, FileRequest, LookupContext } from './types.js';

/** The submit path's conditional request: a slow upstream makes a job (which has time) rather than a slow POST. */
const REVALIDATE_TIMEOUT_MS = 5_000;

// A file from upstream (a release asset, a raw file, a source archive, a gist, any file on an allowed host),
// streamed as it arrives into the one upload path (stored.ts). Cached per requested URL (file-cache.ts):
// immutable targets are served without asking upstream; mutable ones are revalidated with a conditional
// request. One build per requested URL at a time (its build key), here and across instances.
export const file: FileKind = {
  name: 'file',
  input: 'file',
  phases: ['downloading'],

  target(url, config) {
    if (typeof url !== 'string' || url.trim() === '') {
      throw new FerryError('INVALID_URL', 'Expected `url` to be a file URL such as https://github.com/owner/repo/releases/download/v1.0/tool.tar.gz.');
    }
    const target = parseFileUrl(url.trim(), { forges: config.forges, plain: true });
    if (!target) {
      throw new FerryError('BAD_REQUEST', `${url.trim().slice(0, 200)} names a repository, not a file: ask for {"kind":"archive"} or {"kind":"bundle"} instead.`);
    }
    fileUrlPolicy(config)(new URL(target.url));
    return target;
  },

  buildKey: async (request) => fileKeys(request.target.url).entry,

  async lookup(request, ctx) {
    // At submit (the only lookup that revalidates): an internal destination is 403 now, not a failed job later.
    if (request.revalidate) await checkDestination(request.target.url, { destinations: ctx.git.destinations });
    const entry = await readEntry(ctx.store, request.target.url);
    if (!entry) return undefined;
    if (request.target.immutable || entry.checkedAt >= request.requestedAt) return serveEntry(entry, request, ctx, true);
    if (!request.revalidate || !(await unchangedUpstream(entry, request, ctx))) return undefined;
    return serveEntry(entry, request, ctx, true);
  },

  async build(request, ctx) {
    const { config, store } = ctx;
    const { url } = request.target;
    // Mutable only: an immutable file's entry would have been served by the lookup before this build.
    const previous = request.target.immutable ? undefined : await readEntry(store, url);
    ctx.progress('downloading', { bytes: 0, message: `connecting to ${new URL(url).host}` });
    const upstream = await openUpstream(url, {
      checkUrl: fileUrlPolicy(config),
      destinations: ctx.git.destinations,
      maxBytes: config.maxFileBytes,
      ...(previous && conditionalOf(previous)),
      signal: ctx.signal,
      onResume: ({ bytes, attempt, reason }) =>
        ctx.progress('downloading', { bytes, message: `the upstream connection dropped (${reason}); resuming at byte ${bytes} (attempt ${attempt})` }),
    });
    if (upstream.status === 304) {
      upstream.cancel();
      if (!previous) throw new FerryError('UPSTREAM_UNREACHABLE', `${new URL(url).host} answered 304 Not Modified to a request that was not conditional.`);
      const confirmed: FileEntry = { ...previous, checkedAt: Date.now() };
      await writeEntry(store, confirmed);
      ctx.progress('signing');
      return serveEntry(confirmed, request, ctx, true);
    }
    return storeUpstream(upstream, request, ctx);
  },
};

/** A file request for `target`; `requestedAt` is the job's creation time. */
export function fileRequest(target: FileRequest['target'], options: Pick<FileRequest, 'requestedAt' | 'revalidate'>): FileRequest {
  return { target, ...fileRevision(target), ...options };
}

async function storeUpstream(upstream: UpstreamFile, request: FileRequest, ctx: BuildContext): Promise<DoneResult> {
  const { config, store } = ctx;
  const { url } = request.target;
  const { etag, lastModified, size } = upstream;
  // Without a validator nothing tells two versions apart: such a build is an object of its own.
  const identity = etag !== undefined || lastModified !== undefined ? { etag, lastModified, size } : { size, build: randomBytes(8).toString('hex') };
  const key = fileKeys(url).object(upstream.finalUrl, identity);
  // Both are safe names already (file-url.ts's safeFilename): the upstream's wins, as a browser's would.
  const filename = upstream.filename ?? request.target.filename;
  const contentType = upstream.contentType ?? 'application/octet-stream';
  // A cancelled body ends as if the file had: a stopped job must fail here, not store the part it read.
  let killed = false;
  async function* bytes(): AsyncGenerator<Buffer> {
    yield* upstream.body;
    if (killed) throw new FerryError('UPSTREAM_UNREACHABLE', `The download of ${url} was stopped before it finished.`);
  }
  const kill = (): void => {
    killed = true;
    upstream.cancel();
  };
  const artifact = { bytes: bytes(), done: Promise.resolve(), kill, close: () => undefined };
  const stored = await storeStream(
    artifact,
    { key, filename, contentType, label: 'file', streamPhase: 'downloading', limit: { bytes: config.maxFileBytes, variable: 'FERRY_MAX_FILE_BYTES' }, total: size },
    ctx,
  );
  if (size !== undefined && stored.size !== size) {
    throw new FerryError('UPSTREAM_UNREACHABLE', `${new URL(upstream.finalUrl).host} sent ${stored.size} of the ${size} bytes it announced. Try again.`);
  }
  const now = Date.now();
  const entry: FileEntry = {
    v: 1,
    kind: 'file',
    url,
    finalUrl: upstream.finalUrl,
    ...(etag !== undefined && { etag }),
    ...(lastModified !== undefined && { lastModified }),
    key,
    filename,
    contentType,
    ...stored,
    storedAt: now,
    checkedAt: now,
  };
  await writeEntry(store, entry);
  ctx.progress('signing');
  return serveEntry(entry, request, ctx, false);
}

function conditionalOf(entry: FileEntry): { conditional: { etag?: string; lastModified?: string } } | undefined {
  if (entry.etag === undefined && entry.lastModified === undefined) return undefined;
  return { conditional: { ...(entry.etag !== undefined && { etag: entry.etag }), ...(entry.lastModified !== undefined && { lastModified: entry.lastModified }) } };
}

/**
 * Asks upstream, briefly, whether the cached copy is current: a 304, or a 200 with the same validators (a
 * server that ignores conditional requests). A refusal that a job would meet too (a host not allowed, a
 * file gone, too large) is the answer now; a slow or failing upstream leaves it to a job, which has time.
 */
async function unchangedUpstream(entry: FileEntry, request: FileRequest, ctx: LookupContext): Promise<boolean> {
  const conditional = conditionalOf(entry);
  if (!conditional) return false;
  let upstream: UpstreamFile;
  try {
    upstream = await openUpstream(request.target.url, {
      checkUrl: fileUrlPolicy(ctx.config),
      destinations: ctx.git.destinations,
      maxBytes: ctx.config.maxFileBytes,
      ...conditional,
      signal: AbortSignal.timeout(REVALIDATE_TIMEOUT_MS),
    });
  } catch (error) {
    if (error instanceof FerryError && error.status < 500) throw error;
    return false;
  }
  upstream.cancel();
  if (upstream.status === 304) return true;
  return entry.etag !== undefined ? upstream.etag === entry.etag : upstream.lastModified === entry.lastModified && upstream.size === entry.size;
}
