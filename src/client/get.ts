// `ferry get` as a library call; reports through one `onEvent`.
import { rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FerryError } from '../protocol/errors.js';
import type { ArchiveFormat } from '../protocol/formats.js';
import type { DoneMessage } from '../protocol/job.js';
import type { AppCredentials } from '../protocol/apigw-signature.js';
import { download } from './download.js';
import { existingOutput, outputPath, planOutput } from './output-path.js';
import { openEndpoint } from './endpoint.js';
import type { CliEvent } from './events.js';
import { GatewayClient } from './gateway-client.js';
import { submitAndFollow, type JobSubmission } from './job-follow.js';
import { archiveFormatOf, fileTargetOf } from './file-target.js';

export interface GetOptions {
  url: string;
  /**
   * What to fetch: `archive` (the repository at `ref`, as `format`) or `file` (the file the URL names: a
   * release asset, a raw file, a source archive, …). Default: chosen from the URL (fileOrRepository).
   */
  kind?: 'archive' | 'file' | undefined;
  ref?: string | undefined;
  /** Archives only; default zip. */
  format?: ArchiveFormat | undefined;
  /**
   * Where to save: a file, or an existing directory to save into under the server's name; default the
   * working directory (a temp file with `extract`). Checked before anything is submitted (output-path.ts).
   */
  output?: string | undefined;
  /** Replace a file at the destination that holds other bytes (identical bytes are kept either way). */
  force?: boolean | undefined;
  /** Unpack into this (new or empty) directory. */
  extract?: string | undefined;
  /** A gateway's ws:// URL; without it the embedded local stack is started. */
  gateway?: string | undefined;
  credentials?: AppCredentials | undefined;
  /** A private repository's token; default FERRY_GIT_TOKEN (git-token.ts). */
  gitToken?: string | undefined;
  /** The embedded stack's settings; its data dir defaults to `${XDG_CACHE_HOME:-~/.cache}/ferry/local`. */
  local?: { dataDir?: string | undefined; allowHosts?: string[] | undefined; allowHttp?: boolean | undefined };
  /** How long to wait for the job to finish, counted from the start (embedded stack and connecting included). */
  timeoutMs: number;
  /** Stops every step (Ctrl+C); the download and extraction are not bound by `timeoutMs`. */
  signal?: AbortSignal | undefined;
  onEvent?: (event: CliEvent) => void;
}

export interface GetResult {
  done: DoneMessage;
  /** What the worker fetched: the repository's canonical URL (or the file's URL). */
  repo: string;
  /** The kind that was fetched. */
  kind: 'archive' | 'file';
  /** The job ran on the embedded stack, whose links end with the command. */
  embedded: boolean;
  /** The saved archive, unless it was only a temporary for `extract`. */
  path: string | undefined;
  dir: string | undefined;
}

export async function ferryGet(options: GetOptions): Promise<GetResult> {
  const emit = options.onEvent ?? (() => undefined);
  const cwd = process.cwd();
  const cleanups: (() => Promise<void>)[] = [];
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    const plan = options.output !== undefined || options.extract === undefined ? await planOutput(options.output, cwd) : undefined;
    // The embedded stack when no gateway is given; not abortable midway: a Ctrl+C meanwhile is honoured
    // as soon as it is up (and closed again).
    const endpoint = await openEndpoint({ gateway: options.gateway, credentials: options.credentials }, { ...options.local, onWarning: (message) => emit({ type: 'warning', message }) });
    cleanups.push(() => endpoint.close());
    if (signal.aborted) throw stopError(signal);
    if (endpoint.embedded) emit({ type: 'local-stack', gateway: endpoint.gateway });

    const client = new GatewayClient({ url: endpoint.gateway, credentials: endpoint.credentials, gitToken: options.gitToken });
    cleanups.push(async () => client.close());
    if (!endpoint.embedded) client.on('connecting', (info) => emit({ type: 'connecting', gateway: endpoint.gateway, ...info }));
    // Closing ends a connect or a reconnect in progress; the job wait watches `signal` itself.
    const stop = (): void => client.close();
    signal.addEventListener('abort', stop, { once: true });
    cleanups.push(async () => signal.removeEventListener('abort', stop));
    if (signal.aborted) throw stopError(signal);
    // The job is submitted while the connection is still registering (pipelined behind REGISTER): one
    // round trip fewer before the first byte. A refused connection is the clearer error of the two.
    const connected = client.connect().catch((error: unknown) => {
      throw signal.aborted ? stopError(signal) : error;
    });
    const kind = options.kind ?? (fileTargetOf(options.url) ? 'file' : 'archive');
    const format = options.format ?? 'zip';
    const submission: JobSubmission = kind === 'file' ? { kind: 'file', url: options.url } : { url: options.url, ref: options.ref, format };
    let repo = options.url;
    const following = submitAndFollow(client, submission, {
      onEvent: (event) => {
        if (event.type === 'submitted') repo = event.repo;
        emit(event);
      },
      signal,
    });
    following.catch(() => undefined);
    await connected;
    const done = await following;
    repo = done.repo ?? repo;
    client.close(); // the download needs no websocket

    // A file may be extracted only when it is an archive ferry can unpack (its name says which).
    const extractAs = options.extract === undefined ? undefined : kind === 'file' ? archiveFormatOf(done.filename) : format;
    if (options.extract !== undefined && extractAs === undefined) {
      throw new FerryError('BAD_REQUEST', `--extract unpacks .zip and .tar.gz files; ${done.filename} is neither. Run again without --extract.`);
    }
    const name = kind === 'file' ? safeFilename(done.filename) : safeFilename(done.filename, format);
    // The temporary file for --extract is named by the content, so a second run resumes its download.
    const path = plan ? outputPath(plan, name) : join(dirname(resolve(cwd, options.extract as string)), `.ferry-${done.sha256.slice(0, 16)}-${name}`);
    const keep = plan !== undefined;
    if (!keep) cleanups.push(() => rm(path, { force: true }));

    options.signal?.throwIfAborted();
    // Running the same get twice leaves one file: the same bytes already there need no download.
    const existing = await existingOutput(path, done.sha256, options.force ?? false);
    if (existing === 'identical') emit({ type: 'warning', message: `${path} is already there with the same sha256; not downloaded again` });
    let last = 0;
    const saved = existing === 'identical' ? { path, size: done.size, sha256: done.sha256.toLowerCase() } : await download({
      url: done.url,
      dest: path,
      sha256: done.sha256,
      size: done.size,
      signal: options.signal,
      onProgress: ({ bytes, total, connections }) => {
        // Throttled to ~5 lines a second; the final one always goes out.
        const now = Date.now();
        if (now - last < 200 && bytes !== total) return;
        last = now;
        emit({ type: 'download', bytes, total, connections });
      },
      onRetry: ({ bytes, attempt, reason }) => emit({ type: 'download-retry', bytes, attempt, reason }),
      onWaiting: (holder) => emit({ type: 'warning', message: `another ferry (pid ${holder.pid}) is downloading to ${path}; waiting for it` }),
    });
    if (keep) emit({ type: 'saved', path: saved.path, size: saved.size, sha256: saved.sha256 });

    let dir: string | undefined;
    if (options.extract !== undefined) {
      options.signal?.throwIfAborted();
      // Loaded only when extracting: tar and yauzl are most of the CLI's start-up time otherwise.
      const { extractArchive } = await import('./extract.js');
      const result = await extractArchive(saved.path, extractAs as ArchiveFormat, resolve(cwd, options.extract), {
        onWarning: (message) => emit({ type: 'warning', message }),
      });
      dir = result.dir;
      emit({ type: 'extracted', dir: result.dir, files: result.files });
    }
    return { done, repo, kind, embedded: endpoint.embedded, path: keep ? saved.path : undefined, dir };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

function stopError(signal: AbortSignal): FerryError {
  const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
  return timedOut ? new FerryError('TIMEOUT', 'Gave up before the job finished (--timeout).') : new FerryError('INTERRUPTED', 'Interrupted.');
}

/** The server names the file; never let that name pick a directory. Archives always end in their format. */
function safeFilename(name: string, format?: ArchiveFormat): string {
  const base = basename(name.replace(/\\/g, '/'));
  if (base === '' || base === '.' || base === '..' || base.startsWith('.')) {
    throw new FerryError('INTERNAL', `The server named the file "${name.slice(0, 100)}", which is not a usable file name.`);
  }
  return format === undefined || base.endsWith(`.${format}`) ? base : `${base}.${format}`;
}
