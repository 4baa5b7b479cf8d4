// Several ranged connections writing in place into a pre-sized `.part`, with a journal of what is on
// disk so that the next run continues (download-journal.ts). Each request names the object's ETag
// (If-Match) and each answer's ETag and size are checked: bytes of two objects are never stitched
// together. How many connections: download-tuning.ts.
import { setMaxListeners } from 'node:events';
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../protocol/errors.js';
import { PieceWriter, PrefixHasher } from './download-disk.js';
import { contentRange, FinalError, ObjectChanged, reasonOf, statusError, stoppedError, type Connections } from './download-http.js';
import { journalPath, readJournal, removeJournal, writeJournal, type Journal } from './download-journal.js';
import { RangePlan, type Piece } from './download-ranges.js';
import { ConnectionGovernor, DEFAULT_MAX_CONNECTIONS, MIN_STEAL_BYTES, pieceSizeFor, startConnections, WRITE_BACKLOG_BYTES } from './download-tuning.js';
import type { DownloadOptions } from './download.js';

/** The server answered a ranged request with the whole object: it does not do ranges. */
class NoRanges extends Error {}

const GOVERNOR_TICK_MS = 100;

/**
 * Downloads `size` bytes into `part`, continuing from its journal unless `fresh`. Resolves with the sha256
 * of what is on disk (the caller compares it), or 'no-ranges' when the server cannot serve ranges.
 * On failure the journal records what is on disk (when anything is and `resume` allows it).
 */
export async function downloadParallel(options: DownloadOptions, part: string, size: number, connections: Connections, fresh: boolean): Promise<{ size: number; sha256: string } | 'no-ranges'> {
  const journalFile = journalPath(part);
  const resume = options.resume ?? true;
  let journal = fresh || !resume ? undefined : await readJournal(journalFile);
  if (journal && (journal.size !== size || journal.sha256 !== options.sha256.toLowerCase())) journal = undefined;
  const file = await openPart(part, size, journal !== undefined);
  if (!file.resumed) journal = undefined;
  const retries = options.retries ?? 5;
  try {
    for (let restarts = 0; ; restarts++) {
      const run = new Run(options, file.handle, size, connections, journal);
      try {
        return await run.done;
      } catch (error) {
        if (error instanceof NoRanges) {
          await removeJournal(journalFile);
          return 'no-ranges';
        }
        if (!(error instanceof ObjectChanged)) {
          // Best effort: a journal that cannot be written must not hide why the download failed.
          if (resume && run.plan.written() > 0) await writeJournal(journalFile, run.journal()).catch(() => undefined);
          else await removeJournal(journalFile).catch(() => undefined);
          throw error;
        }
        if (restarts >= retries) throw new FerryError('DOWNLOAD_FAILED', `The object behind the URL kept changing while it downloaded (${error.message}). Run the command again.`);
        options.onRetry?.({ bytes: 0, attempt: restarts + 1, reason: `${error.message}; starting over` });
        // Nothing on disk belongs to the object now behind the URL.
        journal = undefined;
        await removeJournal(journalFile);
        await file.handle.truncate(0);
        await file.handle.truncate(size);
      }
    }
  } finally {
    await file.handle.close();
  }
}

/** The `.part`, pre-sized: kept as it is when a journal vouches for it, else created empty. */
async function openPart(part: string, size: number, resume: boolean): Promise<{ handle: FileHandle; resumed: boolean }> {
  try {
    if (resume) {
      const handle = await open(part, 'r+').catch(() => undefined);
      if (handle && (await handle.stat()).size === size) return { handle, resumed: true };
      await handle?.close();
    }
    const handle = await open(part, 'w+');
    await handle.truncate(size);
    return { handle, resumed: false };
  } catch (error) {
    throw new FinalError('DOWNLOAD_FAILED', `Cannot write ${part}: ${(error as Error).message}.`, { cause: error });
  }
}

/** One pass over the object; a changed object ends it with ObjectChanged, and the caller starts another. */
class Run {
  readonly plan: RangePlan;
  readonly done: Promise<{ size: number; sha256: string }>;
  readonly #options: DownloadOptions;
  readonly #file: FileHandle;
  readonly #size: number;
  readonly #connections: Connections;
  readonly #hasher: PrefixHasher;
  readonly #stop = new AbortController();
  readonly #signal: AbortSignal;
  /** The object's ETag: from the journal, else the first answer. */
  #etag: string | undefined;
  readonly #workers = new Set<{ delivering: boolean }>();
  readonly #live = new Set<Promise<void>>();
  #failure: unknown;
  #received = 0;
  #governor: ConnectionGovernor | undefined;
  #startedAt = 0;
  #journalWrite: Promise<void> = Promise.resolve();
  #journalDirty = false;

  constructor(options: DownloadOptions, file: FileHandle, size: number, connections: Connections, journal: Journal | undefined) {
    this.#options = options;
    this.#file = file;
    this.#size = size;
    this.#connections = connections;
    this.#etag = journal?.etag;
    const max = options.connections ?? DEFAULT_MAX_CONNECTIONS;
    this.plan = new RangePlan(size, journal?.done ?? [], pieceSizeFor(size, max), MIN_STEAL_BYTES);
    this.#hasher = new PrefixHasher(file);
    this.#signal = options.signal ? AbortSignal.any([options.signal, this.#stop.signal]) : this.#stop.signal;
    // Each connection's request and backoff listen to it: many at once is the design, not a leak.
    setMaxListeners(4 * max + 8, this.#signal);
    this.done = this.#run(max);
  }

  journal(): Journal {
    return { version: 1, size: this.#size, etag: this.#etag, sha256: this.#options.sha256.toLowerCase(), done: this.plan.ranges() };
  }

  async #run(max: number): Promise<{ size: number; sha256: string }> {
    // A continued download hashes what it already has while the rest arrives.
    this.#hasher.advance(this.plan.contiguous());
    const start = Math.min(startConnections(this.#size), max, this.plan.pieces);
    const governor = new ConnectionGovernor(start, max);
    this.#governor = governor;
    this.#startedAt = Date.now();
    for (let i = 0; i < start; i++) this.#spawn();
    const timer = setInterval(() => {
      const add = governor.tick(Date.now(), this.#received, [...this.#workers].every((worker) => worker.delivering));
      for (let i = 0; i < add; i++) this.#spawn();
    }, GOVERNOR_TICK_MS);
    timer.unref();
    try {
      while (this.#live.size > 0) await Promise.race(this.#live);
    } finally {
      clearInterval(timer);
      await this.#journalWrite;
    }
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#options.signal?.aborted) throw stoppedError(this.#options.signal.reason);
    if (!this.plan.complete) throw new FerryError('DOWNLOAD_FAILED', `The download ended with ${this.plan.written()} of ${this.#size} bytes. Run the command again.`);
    this.#progress();
    return { size: this.#size, sha256: await this.#hasher.digest() };
  }

  #spawn(): void {
    const worker = { delivering: false };
    this.#workers.add(worker);
    const running = this.#work(worker)
      .catch((error: unknown) => {
        // The first failure ends the run; the others' aborts that follow are not news.
        this.#failure ??= error;
        this.#stop.abort();
      })
      .finally(() => {
        this.#workers.delete(worker);
        this.#live.delete(running);
      });
    this.#live.add(running);
  }

  /** One connection: pieces one after another until none is left; retries its own failures with backoff. */
  async #work(worker: { delivering: boolean }): Promise<void> {
    const retries = this.#options.retries ?? 5;
    let failures = 0;
    for (;;) {
      if (this.#signal.aborted) return;
      const piece = this.plan.take();
      if (!piece) return;
      try {
        await this.#fetch(piece, worker);
        this.plan.finish(piece);
        this.#saveJournal();
        failures = 0;
      } catch (error) {
        this.plan.release(piece);
        if (error instanceof FinalError || error instanceof ObjectChanged || error instanceof NoRanges) throw error;
        if (this.#signal.aborted) return;
        failures = piece.written > 0 ? 1 : failures + 1;
        if (failures > retries) {
          throw new FerryError('DOWNLOAD_FAILED', `The download failed after ${failures} attempts: ${reasonOf(error)}. Run the command again.`, { cause: error });
        }
        this.#options.onRetry?.({ bytes: this.plan.written(), attempt: failures, reason: reasonOf(error) });
        await sleep((this.#options.backoffMs ?? 500) * 2 ** (failures - 1), undefined, { signal: this.#signal }).catch(() => undefined);
      }
    }
  }

  async #fetch(piece: Piece, worker: { delivering: boolean }): Promise<void> {
    const asked = piece.end;
    const headers: Record<string, string> = { 'accept-encoding': 'identity', range: `bytes=${piece.start}-${asked - 1}` };
    // If-Match compares strongly: a weak ETag would never match, so it is only compared below.
    if (this.#etag && !this.#etag.startsWith('W/')) headers['if-match'] = this.#etag;
    const res = await this.#connections.get(this.#options.url, headers, this.#options.idleTimeoutMs ?? 30_000, this.#signal);
    if (res.statusCode === 412 || res.statusCode === 416) {
      res.resume();
      throw new ObjectChanged(res.statusCode === 412 ? 'the object changed since the download began' : 'the object is no longer as large');
    }
    if (res.statusCode === 200) {
      res.destroy();
      throw new NoRanges();
    }
    if (res.statusCode !== 206) throw statusError(res);
    const range = contentRange(res);
    if (range?.first !== piece.start) {
      res.destroy();
      throw new Error(`the server answered another range (${res.headers['content-range'] ?? 'no Content-Range'}) than bytes ${piece.start}-${asked - 1}`);
    }
    if (range.total !== undefined && range.total !== this.#size) {
      res.destroy();
      throw new FinalError('DOWNLOAD_FAILED', `The server holds ${range.total} bytes, not the ${this.#size} announced.`);
    }
    const etag = res.headers.etag;
    if (etag && this.#etag && etag !== this.#etag) {
      res.destroy();
      throw new ObjectChanged('the object changed since the download began');
    }
    this.#etag ??= etag;

    const writer = new PieceWriter(this.#file, piece.start, (at, data) => {
      piece.written += data.length;
      this.#hasher.offer(at, data);
      this.#progress();
    });
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        worker.delivering = true;
        if (this.#governor && this.#governor.latency === undefined) this.#governor.latency = Date.now() - this.#startedAt;
        const room = piece.end - piece.start - piece.received;
        writer.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
        piece.received += Math.min(room, chunk.length);
        this.#received += Math.min(room, chunk.length);
        // Another connection took the rest of this piece (or the server sends more than asked): stop reading.
        if (piece.start + piece.received >= piece.end && (piece.end < asked || chunk.length > room)) break;
        while (writer.backlog > WRITE_BACKLOG_BYTES) await writer.oneWritten();
      }
    } finally {
      await writer.settle().catch((error: Error) => {
        throw new FinalError('DOWNLOAD_FAILED', `Cannot write ${this.#options.dest}.part: ${error.message}.`, { cause: error });
      });
    }
    if (piece.start + piece.written < piece.end) throw new Error(`the connection ended after ${piece.received} of ${piece.end - piece.start} bytes of a range`);
  }

  #progress(): void {
    const contiguous = this.plan.contiguous();
    this.#hasher.advance(contiguous);
    this.#options.onProgress?.({ bytes: this.plan.written(), total: this.#size, contiguous, connections: Math.max(1, this.#workers.size) });
  }

  /** Written after each piece, one write at a time; a write asked for meanwhile is done once, after it. */
  #saveJournal(): void {
    if (!(this.#options.resume ?? true)) return;
    if (this.#journalDirty) return;
    this.#journalDirty = true;
    this.#journalWrite = this.#journalWrite.then(async () => {
      this.#journalDirty = false;
      await writeJournal(journalPath(`${this.#options.dest}.part`), this.journal()).catch(() => undefined);
    });
  }
}
