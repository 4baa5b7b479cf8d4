// git's fetch and clone progress (stderr with --progress, LC_ALL=C) as named stages that the clients show
// and translate. git runs them in order, each with its own count: the server counts and compresses, then
// this side receives (or, for a few objects, unpacks), resolves deltas and checks connectivity.
import type { ProgressDetail } from '../artifacts/types.js';
import type { RetryNotice } from '../upstream-retry.js';

/** The stage vocabulary of the `stage` field of a `fetching` progress message (docs/protocol.md). */
export type FetchStage =
  | 'connecting'
  | 'seeding'
  | 'enumerating'
  | 'counting'
  | 'compressing'
  | 'receiving'
  | 'unpacking'
  | 'resolving'
  | 'checking'
  | 'retrying';

/** One progress line of git's, parsed. */
export interface GitProgressLine {
  stage: FetchStage;
  done: number;
  /** Absent when git counts without knowing the end (`Enumerating objects: 4500`). */
  total?: number;
  /** What was received so far, as git prints it (rounded to its unit). */
  bytes?: number;
}

const STAGE_NAMES: Record<string, FetchStage> = {
  'enumerating objects': 'enumerating',
  'counting objects': 'counting',
  'compressing objects': 'compressing',
  'receiving objects': 'receiving',
  'unpacking objects': 'unpacking',
  'resolving deltas': 'resolving',
  'checking connectivity': 'checking',
};

// `remote: Counting objects:  99% (6730/6797)`, `Receiving objects:  40% (3660/9148), 2.40 MiB | 1.10 MiB/s`,
// `remote: Enumerating objects: 9148, done.`
const LINE = /^(?:remote: )?([A-Za-z ]+?):\s+(?:\d+% \((\d+)\/(\d+)\)|(\d+)\b)(.*)$/;
const SIZE = /([\d.]+) (bytes|KiB|MiB|GiB)\b/;
const UNITS: Record<string, number> = { bytes: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
// A server's sideband may carry a terminal's clear-to-end-of-line.
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

export function parseGitProgressLine(text: string): GitProgressLine | undefined {
  const match = LINE.exec(text.replace(ANSI, '').trim());
  if (!match) return undefined;
  const stage = STAGE_NAMES[(match[1] ?? '').toLowerCase()];
  if (!stage) return undefined;
  const [, , done, total, count, rest = ''] = match;
  const line: GitProgressLine = total === undefined ? { stage, done: Number(count) } : { stage, done: Number(done), total: Number(total) };
  const size = SIZE.exec(rest);
  if (size) line.bytes = Math.round(Number(size[1]) * (UNITS[size[2] ?? 'bytes'] ?? 1));
  return line;
}

/** Each stage's share of the fetching bar, in git's order: one bar that only moves forward. */
const SPANS: Partial<Record<FetchStage, readonly [number, number]>> = {
  counting: [0, 10],
  compressing: [10, 20],
  receiving: [20, 90],
  unpacking: [20, 90],
  resolving: [90, 100],
  checking: [100, 100],
};

const WORDS: Record<FetchStage, string> = {
  connecting: 'contacting the git host',
  seeding: 'seeding the mirror from cached bundles',
  enumerating: 'enumerating objects on the server',
  counting: 'counting objects on the server',
  compressing: 'compressing objects on the server',
  receiving: 'receiving objects',
  unpacking: 'unpacking objects',
  resolving: 'resolving deltas',
  checking: 'checking connectivity',
  retrying: 'retrying the upstream',
};

/** The English text of a stage: `receiving objects 3660/9148` (clients older than `stage` read the counts from it). */
export function stageMessage(stage: FetchStage, done?: number, total?: number): string {
  if (done === undefined) return WORDS[stage];
  return total === undefined ? `${WORDS[stage]}: ${done}` : `${WORDS[stage]} ${done}/${total}`;
}

/**
 * One fetch's progress as `fetching` message details: the stage and its counts as git gives them, and a
 * `percent` for the whole fetch that never goes back (not even when git starts over, e.g. after a stale lock).
 */
export class FetchProgressTracker {
  #percent: number | undefined;
  readonly #report: (detail: ProgressDetail) => void;

  constructor(report: (detail: ProgressDetail) => void) {
    this.#report = report;
  }

  /** A stage of ferry's own before git has printed anything (no percent yet, unless one was known). */
  stage(stage: FetchStage, message = WORDS[stage]): void {
    this.#report({ stage, message, ...(this.#percent !== undefined && { percent: this.#percent }) });
  }

  /**
   * A transient upstream failure about to be tried again: `upstream cut the connection, retrying (1/3)`,
   * the retry and how many there may be as the stage's counts. The percent stays where it was: the next
   * attempt's lines only move it on once they pass it.
   */
  retrying(notice: RetryNotice): void {
    this.#report({
      stage: 'retrying',
      stageDone: notice.retry,
      stageTotal: notice.retries,
      message: notice.message,
      ...(this.#percent !== undefined && { percent: this.#percent }),
    });
  }

  line(line: GitProgressLine): void {
    const span = SPANS[line.stage];
    // A stage with no width (checking) needs no total to place it.
    if (span && (line.total !== undefined || span[0] === span[1])) {
      const share = line.total === undefined || line.total === 0 ? 1 : Math.min(1, line.done / line.total);
      const percent = Math.floor(span[0] + (span[1] - span[0]) * share);
      this.#percent = Math.max(this.#percent ?? 0, percent);
    }
    this.#report({
      stage: line.stage,
      stageDone: line.done,
      ...(line.total !== undefined && { stageTotal: line.total }),
      ...(line.bytes !== undefined && { bytes: line.bytes }),
      ...(this.#percent !== undefined && { percent: this.#percent }),
      message: stageMessage(line.stage, line.done, line.total),
    });
  }
}

/**
 * Feeds `onLine` every line of a stream that git rewrites with `\r` and ends with `\n`; for
 * simple-git's outputHandler.
 */
export function progressLines(onLine: (line: GitProgressLine) => void): (chunk: Buffer | string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString();
    const parts = pending.split(/[\r\n]/);
    pending = parts.pop() ?? '';
    for (const part of parts) {
      const line = parseGitProgressLine(part);
      if (line) onLine(line);
    }
  };
}
