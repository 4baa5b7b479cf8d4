// A signed URL to a file on disk, verified by its sha256. Large files come over several ranged
// connections into a pre-sized `<dest>.part` with a journal beside it (download-parallel.ts), so that
// an interrupted run is continued by the next one; small files, a size nobody announced and servers
// without Range support take one connection in order (download-sequential.ts). One download at a time
// owns a dest's `.part` (download-lock.ts); a second one waits, then finds the file the first one saved.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../protocol/errors.js';
import { pathExists } from '../util/path-exists.js';
import { Connections, FinalError } from './download-http.js';
import { journalPath, removeJournal } from './download-journal.js';
import { lockPart, type LockHolder } from './download-lock.js';
import { downloadParallel } from './download-parallel.js';
import { downloadSequential } from './download-sequential.js';
import { DEFAULT_MAX_CONNECTIONS, SMALL_FILE_BYTES } from './download-tuning.js';

export interface DownloadProgress {
  /** Bytes on disk (a continued download starts with what the last run left). */
  bytes: number;
  total: number | undefined;
  /** Bytes from 0 on disk with no hole: what may be read while the rest arrives. */
  contiguous: number;
  /** Connections open now. */
  connections: number;
}

export interface DownloadRetry {
  /** Bytes safely on disk; the next requests ask for the rest. */
  bytes: number;
  attempt: number;
  reason: string;
}

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Expected hex sha256; a mismatch fetches everything once more, then fails with CHECKSUM_MISMATCH. */
  sha256: string;
  /** The size announced with the URL; without it the file comes over one connection. */
  size?: number | undefined;
  /** Most parallel ranged connections; how many are used within that is measured (download-tuning.ts). Default 16. */
  connections?: number | undefined;
  /**
   * Keep `<dest>.part` and its journal after an interrupted or failed run, so that the next call with the
   * same `dest` continues it (only from the same object: ETag and size checked). Default true.
   */
  resume?: boolean | undefined;
  onProgress?: (progress: DownloadProgress) => void;
  onRetry?: (retry: DownloadRetry) => void;
  /** Another download (this process or another) is saving to the same `dest`: this one waits for it to end. */
  onWaiting?: (holder: LockHolder) => void;
  /** Attempts in a row that may fail without any new byte, per connection. Default 5. */
  retries?: number;
  /** A response that sends nothing for this long is dropped and resumed. Default 30 s. */
  idleTimeoutMs?: number;
  /** First retry delay, doubled per failure in a row. Default 500 ms. */
  backoffMs?: number;
  signal?: AbortSignal | undefined;
}

export interface DownloadResult {
  path: string;
  size: number;
  sha256: string;
}

export async function download(options: DownloadOptions): Promise<DownloadResult> {
  const max = options.connections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isSafeInteger(max) || max < 1) throw new FerryError('BAD_REQUEST', `connections must be a whole number of at least 1, got ${String(options.connections)}.`);
  const part = `${options.dest}.part`;
  const journal = journalPath(part);
  const unlock = await lockPart(part, { signal: options.signal, onWaiting: options.onWaiting });
  try {
    // Usually saved by the download this one waited for (or an earlier run): nothing left to do.
    const saved = await alreadySaved(options.dest, options.size, options.sha256);
    if (saved) return saved;
    return await downloadOwned(options, max, part, journal);
  } finally {
    await unlock();
  }
}

async function downloadOwned(options: DownloadOptions, max: number, part: string, journal: string): Promise<DownloadResult> {
  const discard = async (): Promise<void> => {
    // Not recursive: if something else sits at `.part` (a directory), it is not ours to delete.
    await rm(part, { force: true }).catch(() => undefined);
    await removeJournal(journal).catch(() => undefined);
  };
  const connections = new Connections(max);
  const once = async (fresh: boolean): Promise<{ size: number; sha256: string }> => {
    const size = options.size;
    if (size !== undefined && size >= SMALL_FILE_BYTES) {
      const parallel = await downloadParallel({ ...options, connections: max }, part, size, connections, fresh);
      if (parallel !== 'no-ranges') return parallel;
    }
    return downloadSequential(options, part, connections);
  };
  try {
    const expected = options.sha256.toLowerCase();
    let got = await once(false);
    if (got.sha256 !== expected) {
      // Bytes spoiled on the way or on disk, or a journal that claimed what the disk lost: once more, from nothing.
      options.onRetry?.({ bytes: 0, attempt: 1, reason: `the sha256 is ${got.sha256}, expected ${expected}; downloading again` });
      await discard();
      got = await once(true);
    }
    if (got.sha256 !== expected) {
      throw new FerryError('CHECKSUM_MISMATCH', `The downloaded file's sha256 is ${got.sha256}, expected ${options.sha256}, twice: it is corrupted on the way. Run the command again.`);
    }
    await rename(part, options.dest);
    await removeJournal(journal);
    return { path: options.dest, size: got.size, sha256: got.sha256 };
  } catch (error) {
    // The journal exists only when a parallel run stopped with bytes worth continuing.
    if (!keepable(error) || !(await pathExists(journal))) await discard();
    throw error;
  } finally {
    connections.close();
  }
}

/** `dest` as it is, when it already holds the expected bytes: the size first (cheap), then the sha256, streamed. */
async function alreadySaved(dest: string, size: number | undefined, sha256: string): Promise<DownloadResult | undefined> {
  const found = await stat(dest).catch(() => undefined);
  if (!found?.isFile() || (size !== undefined && found.size !== size)) return undefined;
  const hash = createHash('sha256');
  await pipeline(createReadStream(dest), hash);
  const got = hash.digest('hex');
  return got === sha256.toLowerCase() ? { path: dest, size: found.size, sha256: got } : undefined;
}

/** Failures the next run may do better at: interrupted, out of retries, an expired URL. Not a wrong file. */
function keepable(error: unknown): boolean {
  if (error instanceof FinalError) return error.resumable;
  return error instanceof FerryError && (error.code === 'TIMEOUT' || error.code === 'DOWNLOAD_FAILED');
}
