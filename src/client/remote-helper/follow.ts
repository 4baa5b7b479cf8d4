// A bundle is indexed while it downloads: `git index-pack` reads the part's file as the download writes
// it, so over a slow link the client's indexing hides behind the transfer instead of coming after it.
// The download (download.ts, resumable, sha256-checked) fills a pre-sized file over several connections,
// so the reader stays below the watermark the download reports (the bytes from 0 without a hole). If it
// starts the file over, the bytes index-pack read no longer make a pack, index-pack fails (or what it
// read does not hash to the checked download), and the caller indexes the finished file instead (fetch.ts).
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { MAX_HEADER_BYTES, parseBundleHeader, type BundleHeader } from './bundle-apply.js';

// How long a reader waits for the writer's next word before looking at the file again anyway.
const IDLE_LOOK_MS = 100;
const CHUNK_BYTES = 1024 * 1024;

/**
 * A file someone else is writing at `path` and renames to `finalPath` when complete: `grew()` after each
 * write, `end()` once it is done (or given up). With `watermark`, the writer fills the file out of order
 * and only bytes below the last `grew(contiguous)` are read; without it, everything up to the file's end.
 */
export class GrowingFile {
  readonly path: string;
  readonly finalPath: string | undefined;
  #ended = false;
  #wake: (() => void) | undefined;
  readonly #hash = createHash('sha256');
  #hashed = 0;
  /** Readable below this; undefined: up to the file's end. */
  #limit: number | undefined;

  constructor(path: string, finalPath?: string, options: { watermark?: boolean } = {}) {
    this.path = path;
    this.finalPath = finalPath;
    if (options.watermark) this.#limit = 0;
  }

  /** `contiguous`: the new watermark (it can go down when the writer starts over). */
  grew(contiguous?: number): void {
    if (contiguous !== undefined && this.#limit !== undefined) this.#limit = contiguous;
    this.#wake?.();
    this.#wake = undefined;
  }

  end(): void {
    this.#ended = true;
    this.grew();
  }

  /**
   * The sha256 and length of every byte read so far, from the start: once `use` has read the whole pack,
   * the caller compares them with the checked download, so what was indexed is exactly what was verified.
   */
  get read(): { sha256: string; bytes: number } {
    return { sha256: this.#hash.copy().digest('hex'), bytes: this.#hashed };
  }

  /**
   * Reads the bundle as it is written: `use` gets its header and the pack's bytes that follow it, as they
   * arrive. The file is closed when `use` settles, whether or not it read the pack.
   */
  async bundle<T>(use: (header: BundleHeader, pack: AsyncIterable<Buffer>) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const file = await this.#open(signal);
    try {
      let seen = Buffer.alloc(0);
      for (;;) {
        const chunk = await this.#next(file, seen.length, signal);
        if (!chunk) throw new Error('the download ended before the bundle header did');
        if (seen.length > MAX_HEADER_BYTES) throw new Error('the bundle header never ends');
        seen = Buffer.concat([seen, chunk]);
        const header = parseBundleHeader(seen);
        if (header) return await use(header, this.#rest(file, seen.subarray(header.length), seen.length, signal));
      }
    } finally {
      await file.close();
    }
  }

  async *#rest(file: FileHandle, first: Buffer, position: number, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
    if (first.length > 0) yield first;
    for (let at = position; ; ) {
      const chunk = await this.#next(file, at, signal);
      if (!chunk) return;
      at += chunk.length;
      yield chunk;
    }
  }

  /** The next bytes at `position`, waiting for the writer; undefined once it has ended and all is read. */
  async #next(file: FileHandle, position: number, signal: AbortSignal | undefined): Promise<Buffer | undefined> {
    for (;;) {
      signal?.throwIfAborted();
      const ended = this.#ended;
      const room = this.#limit === undefined ? CHUNK_BYTES : Math.min(CHUNK_BYTES, this.#limit - position);
      const buffer = Buffer.allocUnsafe(Math.max(room, 0));
      const { bytesRead } = room > 0 ? await file.read(buffer, 0, buffer.length, position) : { bytesRead: 0 };
      if (bytesRead > 0) {
        const chunk = buffer.subarray(0, bytesRead);
        // Reads are sequential from byte 0 (the header's re-read included only once: see bundle()).
        if (position === this.#hashed) {
          this.#hash.update(chunk);
          this.#hashed += bytesRead;
        }
        return chunk;
      }
      // Ended before this read began: nothing more will come.
      if (ended) return undefined;
      await this.#idle();
    }
  }

  async #open(signal: AbortSignal | undefined): Promise<FileHandle> {
    for (;;) {
      signal?.throwIfAborted();
      const ended = this.#ended;
      try {
        return await open(this.path, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        // Gone after the end: complete and renamed (a small file can finish before the first look), or failed.
        if (ended) return open(this.finalPath ?? this.path, 'r');
      }
      // Not written yet: the download has not answered.
      await this.#idle();
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, IDLE_LOOK_MS);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
