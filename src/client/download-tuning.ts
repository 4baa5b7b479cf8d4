// Every number that shapes a download's parallelism, in one place so the link benchmark can tune them.
//
// The rule for how many connections: start with START_CONNECTIONS; once each of them is delivering,
// measure the aggregate rate over a window (WINDOW_LATENCIES × the first answer's latency, within
// MIN/MAX_WINDOW_MS: a long path needs a longer look); double the connections and measure again; keep
// doubling while each step raised the rate by at least GROWTH_GAIN, up to the `connections` option
// (default DEFAULT_MAX_CONNECTIONS). A link that gives one connection all it has (loopback, a LAN) stops
// after the first step; a long lossy path where each TCP connection is capped keeps growing until the
// link's total is reached. Measured over the link proxy's OSS profile (40 ms, 2 MB/s per connection,
// 20 MB/s in all), 50 MB: starting with 4 took ~3.0 s (1.2× the link's 2.5 s), with 8 ~2.8 s (1.1×);
// 8 → 16 within half a second. Never more at the start than there are pieces. From LARGE_FILE_BYTES on the
// download starts with 16 (the ramp's round trips cost more than a spare socket): `BENCH_ONLY=link BENCH_RUNS=3`,
// medians of 3, on a shared 2-core machine, start 8 → 16: cache-hit `ferry get` archive 3.33 → 3.10 s (1.24 →
// 1.16 × the 2.68 s limit), file 3.39 → 3.09 s (1.27 → 1.15 ×); download() at 16 connections 3.18 → 2.72 s
// (1.23 → 1.05 × its 2.60 s floor). One bench run of each variant.

/** Below this, one connection and no journal: a handshake more would cost more than it saves. */
export const SMALL_FILE_BYTES = 2 * 1024 * 1024;
export const DEFAULT_MAX_CONNECTIONS = 16;
export const START_CONNECTIONS = 8;
/** From this size on, the download starts with LARGE_START_CONNECTIONS: the ramp's round trips cost more than a wasted socket. */
export const LARGE_FILE_BYTES = 32 * 1024 * 1024;
export const LARGE_START_CONNECTIONS = 16;

export function startConnections(size: number): number {
  return size >= LARGE_FILE_BYTES ? LARGE_START_CONNECTIONS : START_CONNECTIONS;
}
export const WINDOW_LATENCIES = 2;
export const MIN_WINDOW_MS = 200;
export const MAX_WINDOW_MS = 1000;
/** A step that adds connections must raise the measured rate by this fraction for the next step. */
export const GROWTH_GAIN = 0.15;

/** Pieces are the size ÷ the most connections, within these bounds: large enough that the round trip between pieces is noise. */
export const MIN_PIECE_BYTES = 1024 * 1024;
export const MAX_PIECE_BYTES = 16 * 1024 * 1024;
/** An idle connection takes half of another's piece only if at least twice this much is left of it. */
export const MIN_STEAL_BYTES = 256 * 1024;

/** Writes are gathered to this size, and a connection pauses its response past WRITE_BACKLOG_BYTES not yet on disk. */
export const WRITE_CHUNK_BYTES = 512 * 1024;
export const WRITE_BACKLOG_BYTES = 4 * 1024 * 1024;

export function pieceSizeFor(total: number, maxConnections: number): number {
  return Math.min(MAX_PIECE_BYTES, Math.max(MIN_PIECE_BYTES, Math.ceil(total / maxConnections)));
}

/**
 * Decides when to open more connections (the rule above). `tick` is called often with the bytes
 * received so far and whether every open connection has delivered its first byte; it answers how many
 * connections to add now. `latency`: how long the first answer took, once known.
 */
export class ConnectionGovernor {
  #open: number;
  readonly #max: number;
  #window: { at: number; bytes: number } | undefined;
  #lastRate: number | undefined;
  #settled = false;
  latency: number | undefined;

  constructor(open: number, max: number) {
    this.#open = open;
    this.#max = max;
  }

  tick(now: number, received: number, allDelivering: boolean): number {
    if (this.#settled || this.#open >= this.#max) return 0;
    // New connections spend round trips on handshakes: measuring before they deliver would undercount them.
    if (!allDelivering) {
      this.#window = undefined;
      return 0;
    }
    if (!this.#window) {
      this.#window = { at: now, bytes: received };
      return 0;
    }
    const span = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, WINDOW_LATENCIES * (this.latency ?? MAX_WINDOW_MS)));
    if (now - this.#window.at < span) return 0;
    const rate = (received - this.#window.bytes) / (now - this.#window.at);
    this.#window = undefined;
    if (this.#lastRate !== undefined && rate < this.#lastRate * (1 + GROWTH_GAIN)) {
      this.#settled = true;
      return 0;
    }
    this.#lastRate = rate;
    const add = Math.min(this.#max - this.#open, this.#open);
    this.#open += add;
    return add;
  }
}
