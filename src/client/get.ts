// `ferry get` as a library call; reports through one `onEvent`.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FerryError } from '../protocol/errors.js';
import type { ArchiveFormat } from '../protocol/formats.js';
import type { DoneMessage } from '../protocol/job.js';
import type { AppCredentials } from '../protocol/apigw-signature.js';
import { download } from './download.js';
import { openEndpoint } from './endpoint.js';
import type { CliEvent } from './events.js';
import { GatewayClient } from './gateway-client.js';
import { submitAndFollow } from './job-follow.js';

export interface GetOptions {
  url: string;
  ref?: string | undefined;
  format: ArchiveFormat;
  /** Where to save the archive; default the done message's filename in the working directory (a temp file with `extract`). */
  output?: string | undefined;
  /** Unpack into this (new or empty) directory. */
  extract?: string | undefined;
  /** A gateway's ws:// URL; without it the embedded local stack is started. */
  gateway?: string | undefined;
  credentials?: AppCredentials | undefined;
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
    // The embedded stack when no gateway is given; not abortable midway: a Ctrl+C meanwhile is honoured
    // as soon as it is up (and closed again).
    const endpoint = await openEndpoint({ gateway: options.gateway, credentials: options.credentials }, { ...options.local, onWarning: (message) => emit({ type: 'warning', message }) });
    cleanups.push(() => endpoint.close());
    if (signal.aborted) throw stopError(signal);
    if (endpoint.embedded) emit({ type: 'local-stack', gateway: endpoint.gateway });

    const client = new GatewayClient({ url: endpoint.gateway, credentials: endpoint.credentials });
    cleanups.push(async () => client.close());
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
    const following = submitAndFollow(client, { url: options.url, ref: options.ref, format: options.format }, { onEvent: emit, signal });
    following.catch(() => undefined);
    await connected;
    const done = await following;
    client.close(); // the download needs no websocket

    const keep = options.output !== undefined || options.extract === undefined;
    const path = options.output !== undefined ? resolve(cwd, options.output)
      : keep ? join(cwd, safeFilename(done.filename, options.format))
      : join(dirname(resolve(cwd, options.extract as string)), `.ferry-${randomBytes(4).toString('hex')}-${safeFilename(done.filename, options.format)}`);
    if (!keep) cleanups.push(() => rm(path, { force: true }));

    options.signal?.throwIfAborted();
    await mkdir(dirname(path), { recursive: true });
    let last = 0;
    const saved = await download({
      url: done.url,
      dest: path,
      sha256: done.sha256,
      size: done.size,
      signal: options.signal,
      onProgress: ({ bytes, total }) => {
        // Throttled to ~5 lines a second; the final one always goes out.
        const now = Date.now();
        if (now - last < 200 && bytes !== total) return;
        last = now;
        emit({ type: 'download', bytes, total });
      },
      onRetry: ({ bytes, attempt, reason }) => emit({ type: 'download-retry', bytes, attempt, reason }),
    });
    if (keep) emit({ type: 'saved', path: saved.path, size: saved.size, sha256: saved.sha256 });

    let dir: string | undefined;
    if (options.extract !== undefined) {
      options.signal?.throwIfAborted();
      // Loaded only when extracting: tar and yauzl are most of the CLI's start-up time otherwise.
      const { extractArchive } = await import('./extract.js');
      const result = await extractArchive(saved.path, options.format, resolve(cwd, options.extract), {
        onWarning: (message) => emit({ type: 'warning', message }),
      });
      dir = result.dir;
      emit({ type: 'extracted', dir: result.dir, files: result.files });
    }
    return { done, path: keep ? saved.path : undefined, dir };
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  }
}

function stopError(signal: AbortSignal): FerryError {
  const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
  return new FerryError('TIMEOUT', timedOut ? 'Gave up before the job finished (--timeout).' : 'Interrupted.');
}

/** The server names the file; never let that name pick a directory. */
function safeFilename(name: string, format: ArchiveFormat): string {
  const base = basename(name.replace(/\\/g, '/'));
  if (base === '' || base === '.' || base === '..' || base.startsWith('.')) {
    throw new FerryError('INTERNAL', `The server named the archive "${name.slice(0, 100)}", which is not a usable file name.`);
  }
  return base.endsWith(`.${format}`) ? base : `${base}.${format}`;
}
