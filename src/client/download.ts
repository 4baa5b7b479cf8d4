/**
 * Download a signed URL to a file: streamed chunk by chunk into `<dest>.part` (memory stays bounded),
 * resumed with `Range: bytes=<have>-` after a dropped connection or a stall, sha256 verified, then
 * renamed into place. The `.part` file is removed on any failure.
 */
import { createHash } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../errors.js';

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
  /** Final path; `<dest>.part` while downloading. */
  dest: string;
  /** Expected hex sha256; a mismatch fails with CHECKSUM_MISMATCH. */
  sha256: string;
  /** Expected size in bytes, when known. */
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
  fetch?: typeof fetch;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
}

/** A failure that retrying cannot fix (403 expired URL, 404, a body longer than announced). */
class FinalError extends FerryError {}

export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const fetchImpl = options.fetch ?? fetch;
  const retries = options.retries ?? 5;
  const part = `${options.dest}.part`;
  const file = await open(part, 'w');
  let hash = createHash('sha256');
  let bytes = 0;
  let total = options.size;
  let failures = 0;
  const stopped = (cause: unknown): FerryError => new FerryError('TIMEOUT', 'The download was stopped before it finished.', { cause });

  try {
    for (;;) {
      if (options.signal?.aborted) throw stopped(options.signal.reason);
      // Aborted by the idle timer (a stall, retried) or by the caller (final).
      const stall = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, stall.signal]) : stall.signal;
      // One timer per attempt, pushed back by every chunk.
      const idle = setTimeout(() => stall.abort(new Error('stalled')), options.idleTimeoutMs ?? 30_000);
      const before = bytes;
      try {
        const headers: Record<string, string> = { 'accept-encoding': 'identity' };
        if (bytes > 0) headers.range = `bytes=${bytes}-`;
        const res = await fetchImpl(options.url, { headers, signal });
        if (res.status === 206 && bytes > 0) {
          const start = /^bytes (\d+)-\d+\/(\d+|\*)/.exec(res.headers.get('content-range') ?? '');
          if (Number(start?.[1]) !== bytes) throw new Error(`the server resumed at the wrong offset (${res.headers.get('content-range') ?? 'no Content-Range'})`);
          if (start?.[2] && start[2] !== '*') total ??= Number(start[2]);
        } else if (res.status === 200) {
          // No range support (or a fresh start): begin again from byte 0.
          if (bytes > 0) await file.truncate(0);
          bytes = 0;
          hash = createHash('sha256');
          const length = Number(res.headers.get('content-length'));
          if (Number.isFinite(length) && length > 0) total ??= length;
        } else {
          await res.body?.cancel().catch(() => undefined);
          const message = `The download answered ${res.status} ${res.statusText}${res.status === 403 ? ' (the signed URL may have expired: run the command again)' : ''}.`;
          if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new FinalError('DOWNLOAD_FAILED', message);
          throw new Error(message);
        }
        if (!res.body) throw new Error('the response has no body');
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          idle.refresh();
          await writeAll(file, chunk, bytes);
          hash.update(chunk);
          bytes += chunk.length;
          if (total !== undefined && bytes > total) throw new FinalError('DOWNLOAD_FAILED', `The download is larger than the announced ${total} bytes.`);
          options.onProgress?.({ bytes, total });
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
        clearTimeout(idle);
        await sleep((options.backoffMs ?? 500) * 2 ** (failures - 1), undefined, { signal: options.signal }).catch((abort: unknown) => {
          throw stopped(abort);
        });
      } finally {
        clearTimeout(idle);
      }
    }

    await file.close();
    const sha256 = hash.digest('hex');
    if (sha256 !== options.sha256.toLowerCase()) {
      throw new FerryError('CHECKSUM_MISMATCH', `The downloaded file's sha256 is ${sha256}, expected ${options.sha256}: it was corrupted on the way. Run the command again.`);
    }
    await rename(part, options.dest);
    return { path: options.dest, size: bytes, sha256 };
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(part, { force: true });
    throw error;
  }
}

async function writeAll(file: import('node:fs/promises').FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset, position + offset);
    offset += bytesWritten;
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    // undici reports a cut connection as "terminated" with the socket error as the cause.
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

