import { removeTreeQuietly } from './disk.js';

/**
 * Defers removing an object's files (its data file or parts folder) while GETs read them, so a
 * download in progress finishes with the bytes it started with however many parts it spans (it opens
 * only a few ahead, see segments.ts): an overwrite or delete removes the old files when the last
 * reader is done. In-process only; after a crash the files left are no record's, and the next start
 * removes them (sweep.ts).
 */
export class ReadLeases {
  private readonly readers = new Map<string, number>();
  /** Paths being removed, now or when their readers are done: a new read must look at the record again. */
  private readonly doomed = new Set<string>();

  /** A lease on `path` for one read, released by calling it; `undefined` when `path` is being removed. */
  take(path: string): (() => void) | undefined {
    if (this.doomed.has(path)) return undefined;
    this.readers.set(path, (this.readers.get(path) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.readers.get(path) ?? 1) - 1;
      if (left > 0) {
        this.readers.set(path, left);
        return;
      }
      this.readers.delete(path);
      if (this.doomed.has(path)) void this.removeNow(path);
    };
  }

  /** Removes `path` (a file or folder) now, or once the last lease on it is released. */
  async remove(path: string): Promise<void> {
    this.doomed.add(path);
    if (!this.readers.has(path)) await this.removeNow(path);
  }

  private async removeNow(path: string): Promise<void> {
    await removeTreeQuietly(path);
    this.doomed.delete(path);
  }
}
