/**
 * Work serialised per key: a task waits for the previous one on its key (whether that succeeded or
 * not) and the key is forgotten once its queue drains. Used for git mirrors and local-store objects.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Whether work on `key` is running or queued. */
  has(key: string): boolean {
    return this.#tails.has(key);
  }
}
