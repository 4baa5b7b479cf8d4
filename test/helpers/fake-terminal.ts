import { Writable } from 'node:stream';

/**
 * A stream that says it is a terminal and keeps the screen it would show: the cursor movements and
 * erasures cli-progress writes through node:readline are applied to a grid of lines. A fake because CI
 * has no terminal to draw on; it knows the escape sequences readline emits and nothing more.
 */
export class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly columns = 200;
  readonly rows = 50;
  readonly lines: string[] = [''];
  #row = 0;
  #col = 0;

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.#apply(chunk.toString());
    done();
  }

  /** The screen, trailing blanks and empty last lines removed. */
  screen(): string[] {
    const lines = this.lines.map((line) => line.trimEnd());
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }

  #apply(text: string): void {
    const pattern = /\x1b\[(\??)(\d*)([A-Za-z])|\n|\r|[^\x1b\n\r]+/g;
    for (const match of text.matchAll(pattern)) {
      const [token, privateMode, number, command] = match;
      if (token === '\n') this.#move(this.#row + 1, 0);
      else if (token === '\r') this.#col = 0;
      else if (command === undefined) this.#print(token);
      else if (privateMode) continue; // cursor shown/hidden, line wrapping on/off
      else this.#control(command, number === '' ? undefined : Number(number));
    }
  }

  #control(command: string, n: number | undefined): void {
    const line = this.lines[this.#row] ?? '';
    if (command === 'A') this.#move(Math.max(0, this.#row - (n ?? 1)), this.#col);
    else if (command === 'B') this.#move(this.#row + (n ?? 1), this.#col);
    else if (command === 'C') this.#col += n ?? 1;
    else if (command === 'D') this.#col = Math.max(0, this.#col - (n ?? 1));
    else if (command === 'G') this.#col = (n ?? 1) - 1;
    else if (command === 'K') this.lines[this.#row] = n === 2 ? '' : n === 1 ? ' '.repeat(this.#col) + line.slice(this.#col) : line.slice(0, this.#col);
    else if (command === 'J') {
      this.lines[this.#row] = line.slice(0, this.#col);
      this.lines.length = this.#row + 1;
    }
  }

  #move(row: number, col: number): void {
    while (this.lines.length <= row) this.lines.push('');
    this.#row = row;
    this.#col = col;
  }

  #print(text: string): void {
    const line = (this.lines[this.#row] ?? '').padEnd(this.#col);
    this.lines[this.#row] = line.slice(0, this.#col) + text + line.slice(this.#col + text.length);
    this.#col += text.length;
  }
}
