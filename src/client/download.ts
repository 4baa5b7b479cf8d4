// Resumed with `Range: bytes=<have>-` after a dropped connection or a stall; the `.part` file is removed
// on any failure. node:http rather than fetch: in a fresh process fetch's first request costs ~100 ms
// more (undici and web streams load). Disk writes are queued, not awaited chunk by chunk, so the
// network keeps flowing while the disk catches up.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../protocol/errors.js';

export interface DownloadProgress {
  bytes: number;
  total: number | undefined;
}

export interface DownloadRetry {
  /** Bytes safely on disk; the next request asks for the rest. */
  bytes: number;
  attempt: number;
  reason: string;
}

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Expected hex sha256; a mismatch fails with CHECKSUM_MISMATCH. */
  sha256: string;
  size?: number | undefined;
  onProgress?: (progress: DownloadProgress) => void;
  onRetry?: (retry: DownloadRetry) => void;
  /** Attempts in a row that may fail without any new byte. Default 5. */
  retries?: number;
  /** A response that sends nothing for this long is dropped and resumed. Default 30 s. */
  idleTimeoutMs?: number;
  /** First retry delay, doubled per failure in a row. Default 500 ms. */
  backoffMs?: number;
  signal?: AbortSignal;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
}

/** A failure that retrying cannot fix (403 expired URL, 404, a body longer than announced, a disk error). */
class FinalError extends FerryError {}

// Writes queue up to this much before the response is paused; 16 KiB (the default) would wait on the disk for every chunk.
const WRITE_BUFFER = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;

export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const retries = options.retries ?? 5;
  const part = `${options.dest}.part`;
  let hash = createHash('sha256');
  let bytes = 0;
  let total = options.size;
  // The object's ETag from the first response: later ranges must come from the same object.
  let etag: string | undefined;
  let failures = 0;
  const reset = (): void => {
    bytes = 0;
    hash = createHash('sha256');
    etag = undefined;
    total = options.size;
  };
  const restart = (why: string): Error => {
    reset();
    return new Error(why);
  };
  const stopped = (cause: unknown): FerryError => new FerryError('TIMEOUT', 'The download was stopped before it finished.', { cause });

  try {
    for (;;) {
      if (options.signal?.aborted) throw stopped(options.signal.reason);
      // Every byte arrived before the last attempt failed: asking for `bytes=<total>-` would get a 416.
      if (total !== undefined && bytes === total && bytes > 0) break;
      const before = bytes;
      try {
        const headers: Record<string, string> = { 'accept-encoding': 'identity' };
        if (bytes > 0) headers.range = `bytes=${bytes}-`;
        if (bytes > 0 && etag) headers['if-match'] = etag;
        const res = await request(options, headers);
        if (res.statusCode === 412 && headers['if-match']) {
          res.resume();
          throw restart('the object changed since the download began; starting over');
        }
        if (res.statusCode === 206 && bytes > 0) {
          const start = /^bytes (\d+)-\d+\/(\d+|\*)/.exec(res.headers['content-range'] ?? '');
          if (Number(start?.[1]) !== bytes) {
            res.destroy();
            throw new Error(`the server resumed at the wrong offset (${res.headers['content-range'] ?? 'no Content-Range'})`);
          }
          const whole = start?.[2] && start[2] !== '*' ? Number(start[2]) : undefined;
          if (whole !== undefined && total !== undefined && whole !== total) {
            res.destroy();
            throw restart(`the object is now ${whole} bytes, not ${total}; starting over`);
          }
          total ??= whole;
          etag ??= res.headers.etag;
        } else if (res.statusCode === 200) {
          // No range support (or a fresh start): begin again from byte 0.
          reset();
          etag = res.headers.etag;
          const length = Number(res.headers['content-length']);
          if (Number.isFinite(length) && length > 0) total ??= length;
        } else {
          res.resume();
          const status = res.statusCode ?? 0;
          const message = `The download answered ${status} ${res.statusMessage ?? ''}${status === 403 ? ' (the signed URL may have expired: run the command again)' : ''}.`;
          if (status >= 300 && status < 500 && status !== 408 && status !== 429) throw new FinalError('DOWNLOAD_FAILED', message);
          throw new Error(message);
        }

        // 'w' truncates a restart from byte 0; 'r+' keeps what is on disk and writes from `bytes`.
        const file = createWriteStream(part, { flags: bytes > 0 ? 'r+' : 'w', start: bytes, highWaterMark: WRITE_BUFFER });
        file.on('error', () => undefined); // reported by finished() below
        try {
          for await (const chunk of res as AsyncIterable<Buffer>) {
            hash.update(chunk);
            bytes += chunk.length;
            if (total !== undefined && bytes > total) throw new FinalError('DOWNLOAD_FAILED', `The download is larger than the announced ${total} bytes.`);
            if (!file.write(chunk)) await drain(file);
            options.onProgress?.({ bytes, total });
          }
        } finally {
          // Whatever was counted in `bytes` is written before the next attempt resumes after it.
          file.end();
          await finished(file).catch((error: Error) => {
            throw new FinalError('DOWNLOAD_FAILED', `Cannot write ${part}: ${error.message}.`, { cause: error });
          });
        }
        if (total !== undefined && bytes < total) throw new Error(`the connection ended after ${bytes} of ${total} bytes`);
        break;
      } catch (error) {
        if (error instanceof FinalError) throw error;
        if (options.signal?.aborted) throw stopped(error);
        failures = bytes > before ? 1 : failures + 1;
        if (failures > retries) {
          throw new FerryError('DOWNLOAD_FAILED', `The download failed after ${failures} attempts: ${reasonOf(error)}. Run the command again.`, { cause: error });
        }
        options.onRetry?.({ bytes, attempt: failures, reason: reasonOf(error) });
        await sleep((options.backoffMs ?? 500) * 2 ** (failures - 1), undefined, { signal: options.signal }).catch((abort: unknown) => {
          throw stopped(abort);
        });
      }
    }

    const sha256 = hash.digest('hex');
    if (sha256 !== options.sha256.toLowerCase()) {
      throw new FerryError('CHECKSUM_MISMATCH', `The downloaded file's sha256 is ${sha256}, expected ${options.sha256}: it was corrupted on the way. Run the command again.`);
    }
    await rename(part, options.dest);
    return { path: options.dest, size: bytes, sha256 };
  } catch (error) {
    // Not recursive: if something else sits at `.part` (a directory), it is not ours to delete.
    await rm(part, { force: true }).catch(() => undefined);
    throw error;
  }
}

// Redirects followed as fetch did; a socket silent for `idleTimeoutMs` is destroyed as "stalled".
async function request(options: DownloadOptions, headers: Record<string, string>): Promise<IncomingMessage> {
  let url = new URL(options.url);
  for (let hops = 0; ; hops++) {
    const get = url.protocol === 'https:' ? httpsGet : httpGet;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      let response: IncomingMessage | undefined;
      const req = get(url, { headers, signal: options.signal, timeout: options.idleTimeoutMs ?? 30_000 }, (res) => resolve((response = res)));
      req.on('error', reject);
      req.on('timeout', () => (response ?? req).destroy(new Error('stalled')));
    });
    const location = res.headers.location;
    if (!location || ![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || hops === MAX_REDIRECTS) return res;
    res.resume();
    url = new URL(location, url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new FinalError('DOWNLOAD_FAILED', `The download redirected to a ${url.protocol} address, which ferry does not follow.`);
    }
  }
}

/** Resolves when the file wants more; rejects at once if writing has failed (no 'drain' would come). */
function drain(file: WriteStream): Promise<unknown> {
  return file.errored ? Promise.reject(file.errored) : once(file, 'drain');
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}
