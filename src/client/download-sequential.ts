// One connection, in order: small files, a size nobody announced, and servers without Range support.
// A dropped connection or a stall is resumed with `Range: bytes=<have>-` within the run; nothing is
// kept across runs (no journal). Disk writes are queued, not awaited chunk by chunk, so the network
// keeps flowing while the disk catches up.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../protocol/errors.js';
import { contentRange, FinalError, reasonOf, statusError, stoppedError, type Connections } from './download-http.js';
import type { DownloadOptions } from './download.js';

// Writes queue up to this much before the response is paused; 16 KiB (the default) would wait on the disk for every chunk.
const WRITE_BUFFER = 8 * 1024 * 1024;

export async function downloadSequential(options: DownloadOptions, part: string, connections: Connections): Promise<{ size: number; sha256: string }> {
  const retries = options.retries ?? 5;
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

  for (;;) {
    if (options.signal?.aborted) throw stoppedError(options.signal.reason);
    // Every byte arrived before the last attempt failed: asking for `bytes=<total>-` would get a 416.
    if (total !== undefined && bytes === total && bytes > 0) break;
    const before = bytes;
    try {
      const headers: Record<string, string> = { 'accept-encoding': 'identity' };
      if (bytes > 0) headers.range = `bytes=${bytes}-`;
      if (bytes > 0 && etag) headers['if-match'] = etag;
      const res = await connections.get(options.url, headers, options.idleTimeoutMs ?? 30_000, options.signal);
      if (res.statusCode === 412 && headers['if-match']) {
        res.resume();
        throw restart('the object changed since the download began; starting over');
      }
      if (res.statusCode === 206 && bytes > 0) {
        const range = contentRange(res);
        if (range?.first !== bytes) {
          res.destroy();
          throw new Error(`the server resumed at the wrong offset (${res.headers['content-range'] ?? 'no Content-Range'})`);
        }
        if (range.total !== undefined && total !== undefined && range.total !== total) {
          res.destroy();
          throw restart(`the object is now ${range.total} bytes, not ${total}; starting over`);
        }
        total ??= range.total;
        etag ??= res.headers.etag;
      } else if (res.statusCode === 200) {
        // No range support (or a fresh start): begin again from byte 0.
        reset();
        etag = res.headers.etag;
        const length = Number(res.headers['content-length']);
        if (Number.isFinite(length) && length > 0) total ??= length;
      } else {
        throw statusError(res);
      }

      // 'w' truncates a restart from byte 0; 'r+' keeps what is on disk and writes from `bytes`.
      const start = bytes;
      const file = createWriteStream(part, { flags: start > 0 ? 'r+' : 'w', start, highWaterMark: WRITE_BUFFER });
      file.on('error', () => undefined); // reported by finished() below
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          hash.update(chunk);
          bytes += chunk.length;
          if (total !== undefined && bytes > total) throw new FinalError('DOWNLOAD_FAILED', `The download is larger than the announced ${total} bytes.`);
          if (!file.write(chunk)) await drain(file);
          // What is queued is counted; only what the file has written is readable from byte 0 on.
          options.onProgress?.({ bytes, total, contiguous: start + file.bytesWritten, connections: 1 });
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
      if (options.signal?.aborted) throw stoppedError(error);
      failures = bytes > before ? 1 : failures + 1;
      if (failures > retries) {
        throw new FerryError('DOWNLOAD_FAILED', `The download failed after ${failures} attempts: ${reasonOf(error)}. Run the command again.`, { cause: error });
      }
      options.onRetry?.({ bytes, attempt: failures, reason: reasonOf(error) });
      await sleep((options.backoffMs ?? 500) * 2 ** (failures - 1), undefined, { signal: options.signal }).catch((abort: unknown) => {
        throw stoppedError(abort);
      });
    }
  }
  // Everything is on disk now: the watermark reaches the end.
  options.onProgress?.({ bytes, total: bytes, contiguous: bytes, connections: 1 });
  return { size: bytes, sha256: hash.digest('hex') };
}

/** Resolves when the file wants more; rejects at once if writing has failed (no 'drain' would come). */
function drain(file: WriteStream): Promise<unknown> {
  return file.errored ? Promise.reject(file.errored) : once(file, 'drain');
}
