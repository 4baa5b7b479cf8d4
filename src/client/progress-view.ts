// Human output goes to stderr; stdout is for --json lines.
import type { MultiBar, Options, SingleBar } from 'cli-progress';
import { formatBytes } from '../util/bytes.js';
import type { CliEvent } from './events.js';
import { ProgressRows, rowText, type Row } from './progress-rows.js';

export interface ProgressView {
  event(event: CliEvent): void;
  /** Stops redrawing; call before printing anything else. */
  stop(): void;
}

export async function createView(mode: 'json' | 'auto'): Promise<ProgressView> {
  if (mode === 'json') return jsonView(process.stdout);
  if (!process.stderr.isTTY) return linesView(process.stderr);
  // Loaded only when bars are drawn: --json, pipes and every other command skip it.
  const { MultiBar } = await import('cli-progress');
  return barsView(new MultiBar(BAR_OPTIONS));
}

const BAR_WIDTH = 30;

/** The options barsView expects of its MultiBar (tests pass them with a stream of their own). */
export const BAR_OPTIONS: Options = {
  format: (_options, _params, payload: BarPayload) => barLine(payload.row, Date.now()),
  stream: process.stderr,
  hideCursor: true,
  clearOnComplete: false,
  fps: 8,
  // Every row on every redraw: a line logged above the bars moves them all down one row, and cli-progress
  // would otherwise rewrite only the rows whose text changed, leaving stale copies of the others.
  forceRedraw: true,
};

interface BarPayload {
  row: Row;
}

/** ` fetching  |████░░░░| 40% 0:12 receiving objects 3660/9148, 2.4 MiB, 1.1 MiB/s` */
export function barLine(row: Row, now: number): string {
  const { fraction, pct, elapsed, detail } = rowText(row, now);
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
  return ` ${row.label.padEnd(9)} |${bar}| ${pct} ${elapsed.padStart(4)}${detail ? ` ${detail}` : ''}`;
}

function jsonView(out: NodeJS.WritableStream): ProgressView {
  return { event: (event) => void out.write(`${JSON.stringify(event)}\n`), stop: () => undefined };
}

/** Bars on a terminal: one per phase (and per git stage while fetching), drawn by cli-progress. */
export function barsView(multi: MultiBar): ProgressView {
  const rows = new ProgressRows();
  const bars = new Map<Row, SingleBar>();
  const draw = (row: Row): void => {
    const bar = bars.get(row);
    // The line is drawn from the row (barLine); the bar's own value and total only satisfy cli-progress.
    if (bar) bar.update(Math.round(rowText(row, Date.now()).fraction * 1000), { row });
    else bars.set(row, multi.create(1000, Math.round(rowText(row, Date.now()).fraction * 1000), { row }));
  };
  return {
    event(event) {
      for (const row of rows.apply(event)) draw(row);
      if (event.type === 'done') multi.log(`${doneLine(event)}\n`);
      else if (event.type !== 'progress' && event.type !== 'download') {
        const line = lineFor(event);
        if (line) multi.log(`${line}\n`);
      }
    },
    stop: () => {
      // A line logged since the last redraw is written by a redraw, which stop() alone does not do.
      if (bars.size > 0) multi.update();
      multi.stop();
    },
  };
}

// Without a terminal: a row's first line at once, then at most one every 5 s while it lasts.
const LINE_INTERVAL_MS = 5000;

export function linesView(stream: NodeJS.WritableStream, clock: () => number = Date.now): ProgressView {
  const rows = new ProgressRows();
  const lastLine = new Map<string, number>();
  const write = (line: string): void => void stream.write(`${line}\n`);
  return {
    event(event) {
      const now = clock();
      for (const row of rows.apply(event, now)) {
        if (row.finishedAt !== undefined && row.key !== 'download') continue;
        const last = lastLine.get(row.key);
        // A download's last line (it is complete) is always written.
        if (last !== undefined && now - last < LINE_INTERVAL_MS && row.finishedAt === undefined) continue;
        lastLine.set(row.key, now);
        write(plainLine(row, now));
      }
      if (event.type === 'done') return write(doneLine(event));
      if (event.type === 'progress' || event.type === 'download') return;
      const line = lineFor(event);
      if (line) write(line);
    },
    stop: () => undefined,
  };
}

/** `fetching: 40% receiving objects 3660/9148 (0:12)`; `archiving: 2.0 MiB, 1.0 MiB/s (0:02)`. */
function plainLine(row: Row, now: number): string {
  const { pct, elapsed, detail } = rowText(row, now);
  const percent = pct.trim() && pct !== 'done' ? `${pct.trim()} ` : '';
  return `${row.label}: ${percent}${detail ? `${detail} ` : ''}(${elapsed})`;
}

function doneLine(event: Extract<CliEvent, { type: 'done' }>): string {
  return `${event.cached ? 'cached:' : 'built'} ${event.filename} (${formatBytes(event.size)})`;
}

function lineFor(event: CliEvent): string | undefined {
  switch (event.type) {
    case 'local-stack':
      return `started the local stack at ${event.gateway}`;
    case 'submitted':
      if (event.format === 'file') return `job ${event.jobId}: ${event.repo}`;
      return `job ${event.jobId}: ${event.repo} ${event.ref} (${event.commit.slice(0, 12)}) as ${event.format}`;
    case 'connecting':
      return `${event.reconnect ? 'reconnecting' : 'connecting'} to ${event.gateway} (attempt ${event.attempt})`;
    case 'reconnect':
      return `reconnected to the gateway (${event.reason})`;
    case 'job-resumed':
      return `worker restarted, resuming (attempt ${event.attempt})`;
    case 'job-retry':
      return 'worker instance stopped; waiting for the job to be retried on another one';
    case 'submit-retry':
      return `worker instance is shutting down; submitting again in ${Math.ceil(event.delayMs / 1000)} s (attempt ${event.attempt})`;
    case 'download-retry':
      return `download interrupted at ${formatBytes(event.bytes)} (${event.reason}); resuming`;
    case 'warning':
      return `warning: ${event.message}`;
    default:
      return undefined;
  }
}
