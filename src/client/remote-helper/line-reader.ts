// git talks to a remote helper in lines on stdin; a push hands the rest of the stream, unread bytes
// included, to git's own transport, so the reader can give back what it buffered.

export class LineReader {
  #buffer = Buffer.alloc(0);
  #ended = false;
  #waiter: (() => void) | undefined;
  readonly #input: NodeJS.ReadableStream;
  readonly #onData = (chunk: Buffer): void => {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#wake();
  };
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#wake();
  };

  constructor(input: NodeJS.ReadableStream) {
    this.#input = input;
    input.on('data', this.#onData);
    input.on('end', this.#onEnd);
    input.on('error', this.#onEnd);
  }

  /** The next line without its newline; undefined once the input has ended. */
  async next(): Promise<string | undefined> {
    for (;;) {
      const newline = this.#buffer.indexOf(0x0a);
      if (newline >= 0) {
        const line = this.#buffer.subarray(0, newline).toString('utf8');
        this.#buffer = this.#buffer.subarray(newline + 1);
        return line.endsWith('\r') ? line.slice(0, -1) : line;
      }
      if (this.#ended) return undefined;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  /** Stops reading lines: returns the bytes read but not consumed; the caller pipes the input on. */
  detach(): Buffer {
    this.#input.off('data', this.#onData);
    this.#input.off('end', this.#onEnd);
    this.#input.off('error', this.#onEnd);
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
