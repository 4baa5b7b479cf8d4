// The disk side of a parallel download: positional writes into the pre-sized `.part`, and the sha256
// of the prefix that is complete, read back as it grows so little is left to hash at the end.
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { WRITE_CHUNK_BYTES } from './download-tuning.js';

/**
 * One connection's writes at `position` onwards, gathered into larger writes and done in order;
 * `onWritten` once each is on disk. The response is not paused for each write (the network keeps
 * flowing); the caller waits on `settle()` when `backlog` grows too large.
 */
export class PieceWriter {
  readonly #file: FileHandle;
  readonly #onWritten: (at: number, data: Buffer) => void;
  #position: number;
  #gathered: Buffer[] = [];
  #gatheredBytes = 0;
  #queued = 0;
  /** One promise per write not yet done, oldest first. */
  readonly #pending: Promise<void>[] = [];
  #tail: Promise<void> = Promise.resolve();
  #error: Error | undefined;

  constructor(file: FileHandle, position: number, onWritten: (at: number, data: Buffer) => void) {
    this.#file = file;
    this.#position = position;
    this.#onWritten = onWritten;
  }

  push(chunk: Buffer): void {
    this.#gathered.push(chunk);
    this.#gatheredBytes += chunk.length;
    if (this.#gatheredBytes >= WRITE_CHUNK_BYTES) this.#flush();
  }

  /** Bytes pushed and not yet on disk. */
  get backlog(): number {
    return this.#queued + this.#gatheredBytes;
  }

  /** Resolves when the oldest write in flight is done: the reader waits for room without letting the disk run dry. */
  async oneWritten(): Promise<void> {
    await this.#pending[0];
    if (this.#error) throw this.#error;
  }

  /** Everything pushed is on disk; rejects with the disk's error if a write failed. */
  async settle(): Promise<void> {
    this.#flush();
    await this.#tail;
    if (this.#error) throw this.#error;
  }

  #flush(): void {
    if (this.#gatheredBytes === 0) return;
    const data = this.#gathered.length === 1 ? (this.#gathered[0] as Buffer) : Buffer.concat(this.#gathered);
    const at = this.#position;
    this.#position += data.length;
    this.#queued += data.length;
    this.#gathered = [];
    this.#gatheredBytes = 0;
    const written = this.#tail.then(async () => {
      try {
        if (!this.#error) await writeAll(this.#file, data, at);
      } catch (error) {
        this.#error = error as Error;
      } finally {
        this.#queued -= data.length;
        this.#pending.shift();
      }
      if (!this.#error) this.#onWritten(at, data);
    });
    this.#pending.push(written);
    this.#tail = written;
  }
}

async function writeAll(file: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await file.write(data, offset, data.length - offset, position + offset);
    offset += bytesWritten;
  }
}

const READ_BYTES = 1024 * 1024;

/** sha256 of the file's bytes from 0 up to the highest `advance(upTo)`; only bytes already written are ever asked for. */
export class PrefixHasher {
  readonly #file: FileHandle;
  readonly #hash = createHash('sha256');
  #hashed = 0;
  #target = 0;
  #running: Promise<void> | undefined;
  #error: Error | undefined;

  constructor(file: FileHandle) {
    this.#file = file;
  }

  /**
   * Bytes just written at `at`: hashed from memory when they are the very next ones and no read-back is
   * running (the usual case: the lowest piece is the one being filled), which saves reading them again.
   */
  offer(at: number, data: Buffer): void {
    if (this.#running || this.#error || at !== this.#hashed) return;
    this.#hash.update(data);
    this.#hashed += data.length;
  }

  advance(upTo: number): void {
    this.#target = Math.max(this.#target, upTo);
    // The loop below re-reads the target after each read: one running loop is enough.
    if (this.#running || this.#hashed >= this.#target || this.#error) return;
    this.#running = this.#run().catch((error: Error) => {
      this.#error = error;
    });
  }

  /** Waits for the hashing to catch up with the last `advance`. */
  async digest(): Promise<string> {
    while (this.#running) await this.#running;
    if (this.#error) throw this.#error;
    return this.#hash.digest('hex');
  }

  async #run(): Promise<void> {
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    try {
      while (this.#hashed < this.#target) {
        const { bytesRead } = await this.#file.read(buffer, 0, Math.min(buffer.length, this.#target - this.#hashed), this.#hashed);
        if (bytesRead === 0) throw new Error(`the file ends at ${this.#hashed} bytes, before the ${this.#target} written`);
        this.#hash.update(buffer.subarray(0, bytesRead));
        this.#hashed += bytesRead;
      }
    } finally {
      // Same tick as the last check of the loop: an advance() after this starts a new loop.
      this.#running = undefined;
    }
  }
}
