// Which bytes of a parallel download are on disk, which are being fetched and which nobody has asked
// for yet. Pieces are handed out lowest offset first, so the prefix readable from byte 0 grows steadily
// (the remote helper indexes a bundle up to it); once nothing is unclaimed, an idle connection takes
// the upper half of the piece with the most left, so the tail does not wait on one slow connection.

/** `[start, end)`. */
export type Range = [start: number, end: number];

/** Bytes `[start, end)` given to one connection: `received` counts from `start`, `written` ≤ `received` is on disk. */
export interface Piece {
  readonly start: number;
  /** Lowered when another connection takes the upper half. */
  end: number;
  received: number;
  written: number;
}

export class RangePlan {
  readonly total: number;
  readonly #pieceSize: number;
  readonly #minSteal: number;
  /** Unclaimed, sorted, disjoint. */
  #free: Range[];
  /** On disk and not part of an active piece, sorted, merged. */
  #done: Range[];
  readonly #active = new Set<Piece>();

  constructor(total: number, done: readonly Range[], pieceSize: number, minSteal: number) {
    this.total = total;
    this.#pieceSize = pieceSize;
    this.#minSteal = minSteal;
    this.#done = merge(done.map(([start, end]) => [start, end]));
    this.#free = complement(this.#done, total);
  }

  /** The next piece to fetch: the lowest unclaimed bytes, else half of the largest remainder; undefined when nothing is worth a connection. */
  take(): Piece | undefined {
    const first = this.#free[0];
    if (first) {
      const start = first[0];
      const end = Math.min(first[1], start + this.#pieceSize);
      if (end === first[1]) this.#free.shift();
      else first[0] = end;
      const piece: Piece = { start, end, received: 0, written: 0 };
      this.#active.add(piece);
      return piece;
    }
    let widest: Piece | undefined;
    for (const piece of this.#active) if (!widest || remaining(piece) > remaining(widest)) widest = piece;
    if (!widest || remaining(widest) < 2 * this.#minSteal) return undefined;
    const split = widest.start + widest.received + Math.ceil(remaining(widest) / 2);
    const stolen: Piece = { start: split, end: widest.end, received: 0, written: 0 };
    widest.end = split;
    this.#active.add(stolen);
    return stolen;
  }

  /** Pieces of the unclaimed bytes, at most (before any is split). */
  get pieces(): number {
    return this.#free.reduce((sum, [start, end]) => sum + Math.ceil((end - start) / this.#pieceSize), 0);
  }

  /** The piece is complete (`written` reached its end). */
  finish(piece: Piece): void {
    this.#active.delete(piece);
    this.#done = merge([...this.#done, [piece.start, piece.start + piece.written]]);
  }

  /** Its connection failed: what is on disk stays, the rest is unclaimed again (and taken first: it is the lowest). */
  release(piece: Piece): void {
    this.#active.delete(piece);
    if (piece.written > 0) this.#done = merge([...this.#done, [piece.start, piece.start + piece.written]]);
    const from = piece.start + piece.written;
    if (from < piece.end) this.#free = merge([...this.#free, [from, piece.end]]);
  }

  /** Everything on disk, active pieces' written bytes included: what the journal records. */
  ranges(): Range[] {
    return merge([...this.#done, ...[...this.#active].filter((piece) => piece.written > 0).map((piece): Range => [piece.start, piece.start + piece.written])]);
  }

  /** Bytes from 0 on disk without a hole. */
  contiguous(): number {
    const first = this.ranges()[0];
    return first && first[0] === 0 ? first[1] : 0;
  }

  written(): number {
    return this.ranges().reduce((sum, [start, end]) => sum + end - start, 0);
  }

  get complete(): boolean {
    return this.#free.length === 0 && this.#active.size === 0 && this.written() === this.total;
  }
}

function remaining(piece: Piece): number {
  return piece.end - piece.start - piece.received;
}

/** Sorted and merged (touching ranges join). */
export function merge(ranges: Range[]): Range[] {
  const sorted = ranges.filter(([start, end]) => end > start).sort((a, b) => a[0] - b[0]);
  const out: Range[] = [];
  for (const [start, end] of sorted) {
    const last = out.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

function complement(done: readonly Range[], total: number): Range[] {
  const out: Range[] = [];
  let at = 0;
  for (const [start, end] of done) {
    if (start > at) out.push([at, start]);
    at = Math.max(at, end);
  }
  if (at < total) out.push([at, total]);
  return out;
}
