// Human output goes to stderr; stdout is for --json lines.
import type { MultiBar, SingleBar } from 'cli-progress';
import { formatBytes } from '../util/bytes.js';
import type { Phase } from '../protocol/job.js';
import type { CliEvent, DownloadEvent } from './events.js';

export interface ProgressView {
  event(event: CliEvent): void;
  /** Stops redrawing; call before printing anything else. */
  stop(): void;
}

export async function createView(mode: 'json' | 'auto'): Promise<ProgressView> {
  if (mode === 'json') return jsonView(process.stdout);
  if (!process.stderr.isTTY) return linesView(process.stderr);
  // Loaded only when bars are drawn: --json, pipes and every other command skip it.
  const { MultiBar, Presets } = await import('cli-progress');
  return barsView(
    new MultiBar(
      { format: ' {label} |{bar}| {pct} {detail}', stream: process.stderr, hideCursor: true, clearOnComplete: false, barsize: 30, fps: 8, autopadding: true },
      Presets.shades_classic,
    ),
  );
}

function jsonView(out: NodeJS.WritableStream): ProgressView {
  return { event: (event) => void out.write(`${JSON.stringify(event)}\n`), stop: () => undefined };
}

/** `Receiving objects 120/4031` (git's own counts, as the worker forwards them). */
function gitCounts(message: string | undefined): { stage: string; done: number; total: number } | undefined {
  const match = /^(.*?)[: ]+(\d+)\/(\d+)\s*$/.exec(message ?? '');
  if (!match) return undefined;
  return { stage: match[1] ?? '', done: Number(match[2]), total: Number(match[3]) };
}

function describe(event: Extract<CliEvent, { type: 'progress' }>): { value: number; total: number; detail: string } {
  const { phase } = event;
  if (phase === 'queued') {
    const position = event.queuePosition ?? 0;
    return { value: position > 0 ? 0 : 1, total: 1, detail: position > 0 ? `position ${position} in the queue` : 'starting' };
  }
  if (phase === 'fetching') {
    const counts = gitCounts(event.message);
    if (counts) return { value: counts.done, total: Math.max(counts.total, 1), detail: `${counts.stage} ${counts.done}/${counts.total}` };
    return { value: event.percent ?? 0, total: 100, detail: event.message ?? '' };
  }
  if (phase === 'downloading') {
    // The worker's fetch of the upstream file: a percentage only when upstream said how large it is.
    const bytes = event.bytes ?? 0;
    if (event.total) return { value: bytes, total: event.total, detail: `${formatBytes(bytes)} / ${formatBytes(event.total)}` };
    return { value: bytes, total: Math.max(bytes, 1), detail: formatBytes(bytes) };
  }
  if (phase === 'archiving') {
    const bytes = event.bytes ?? 0;
    return { value: bytes, total: Math.max(event.total ?? bytes, 1), detail: formatBytes(bytes) };
  }
  if (phase === 'uploading') {
    const bytes = event.bytes ?? 0;
    const total = event.total ?? bytes;
    return { value: bytes, total: Math.max(total, 1), detail: `${formatBytes(bytes)} / ${formatBytes(total)}` };
  }
  return { value: event.percent ?? 100, total: 100, detail: event.message ?? '' };
}

function barsView(multi: MultiBar): ProgressView {
  const meter = new DownloadMeter();
  const bars = new Map<string, SingleBar>();
  let current: string | undefined;
  const set = (key: Phase | 'download', value: number, total: number, detail: string): void => {
    if (current !== key && current !== undefined) {
      const previous = bars.get(current);
      previous?.update(previous.getTotal(), { pct: '100%' });
    }
    current = key;
    const pct = `${String(Math.min(100, Math.floor((value / Math.max(total, 1)) * 100))).padStart(3)}%`;
    const payload = { label: key.padEnd(9), pct, detail };
    const bar = bars.get(key);
    if (bar) {
      bar.setTotal(total);
      bar.update(value, payload);
    } else {
      bars.set(key, multi.create(total, value, payload));
    }
  };
  const log = (line: string): void => multi.log(`${line}\n`);

  return {
    event(event) {
      switch (event.type) {
        case 'progress': {
          const { value, total, detail } = describe(event);
          return set(event.phase, value, total, detail);
        }
        case 'done':
          if (current) set(current as Phase, 1, 1, '');
          current = undefined;
          return log(doneLine(event));
        case 'download':
          return set('download', event.bytes, event.total ?? Math.max(event.bytes, 1), meter.detail(event));
        default: {
          const line = lineFor(event);
          if (line) log(line);
        }
      }
    },
    stop: () => multi.stop(),
  };
}

function linesView(stream: NodeJS.WritableStream): ProgressView {
  const meter = new DownloadMeter();
  let phase: string | undefined;
  let lastLine = 0;
  let lastQuarter = -1;
  const write = (line: string): void => void stream.write(`${line}\n`);
  return {
    event(event) {
      if (event.type === 'progress') {
        const { detail } = describe(event);
        // Each phase once, then at most one line every 5 s while it lasts.
        if (event.phase === phase && Date.now() - lastLine < 5000) return;
        phase = event.phase;
        lastLine = Date.now();
        return write(`${event.phase}${detail ? `: ${detail}` : ''}`);
      }
      if (event.type === 'download') {
        const detail = meter.detail(event);
        const quarter = event.total ? Math.floor((event.bytes / event.total) * 4) : 0;
        if (quarter === lastQuarter) return;
        lastQuarter = quarter;
        return write(`download: ${detail}`);
      }
      if (event.type === 'done') {
        return write(doneLine(event));
      }
      const line = lineFor(event);
      if (line) write(line);
    },
    stop: () => undefined,
  };
}

function doneLine(event: Extract<CliEvent, { type: 'done' }>): string {
  return `${event.cached ? 'cached:' : 'built'} ${event.filename} (${formatBytes(event.size)})`;
}

// The rate over the last few seconds, not since the start: a continued download starts with bytes it
// did not fetch now, and a link's rate changes.
const RATE_SPAN_MS = 5000;

/** `12 MiB / 50 MiB, 4.2 MiB/s, 9 s left, 6 connections`: one download's bytes, rate and time left. */
class DownloadMeter {
  #samples: { at: number; bytes: number }[] = [];

  detail(event: DownloadEvent): string {
    const now = Date.now();
    // A download that starts over (another object, a spoiled one) would read as a negative rate.
    if ((this.#samples.at(-1)?.bytes ?? 0) > event.bytes) this.#samples = [];
    this.#samples.push({ at: now, bytes: event.bytes });
    while (this.#samples.length > 2 && now - (this.#samples[1]?.at ?? now) > RATE_SPAN_MS) this.#samples.shift();
    const first = this.#samples[0] as { at: number; bytes: number };
    const parts = [`${formatBytes(event.bytes)}${event.total ? ` / ${formatBytes(event.total)}` : ''}`];
    const seconds = (now - first.at) / 1000;
    const rate = seconds >= 0.5 ? (event.bytes - first.bytes) / seconds : undefined;
    if (rate !== undefined && event.bytes !== event.total) {
      parts.push(`${formatBytes(rate)}/s`);
      if (event.total && rate > 0) parts.push(`${formatDuration((event.total - event.bytes) / rate)} left`);
    }
    if (event.connections !== undefined && event.connections > 1) parts.push(`${event.connections} connections`);
    return parts.join(', ');
  }
}

function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
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
