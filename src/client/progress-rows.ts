// What each progress row can honestly say, whatever draws it (bars on a terminal, lines otherwise): a
// percentage only against a known total, bytes with their rate (and time left when the total is known)
// for transfers, and always the time the row has taken. A git stage is a row of its own: git counts
// each stage from zero, so one bar for all of them would go back.
import { formatBytes } from '../util/bytes.js';
import type { CliEvent, DownloadEvent } from './events.js';

type ProgressEvent = Extract<CliEvent, { type: 'progress' }>;

export interface Row {
  key: string;
  label: string;
  startedAt: number;
  finishedAt?: number;
  value: number;
  /** Undefined while the end is unknown: no percentage, an empty bar until the row is finished. */
  total: number | undefined;
  /** The row's text without the elapsed time (computed when drawn). */
  detail: string;
  /** The detail once finished (counts and sizes at their end). */
  finishedDetail: string;
}

/** How a row reads now: `fraction` of the bar, the percent column (blank without a total), the rest. */
export interface RowText {
  fraction: number;
  pct: string;
  elapsed: string;
  detail: string;
}

export function rowText(row: Row, now: number): RowText {
  const end = row.finishedAt ?? now;
  const elapsed = formatClock(end - row.startedAt);
  if (row.finishedAt !== undefined) return { fraction: 1, pct: 'done', elapsed, detail: row.finishedDetail };
  if (row.total === undefined) return { fraction: 0, pct: '    ', elapsed, detail: row.detail };
  const fraction = Math.min(1, row.value / Math.max(row.total, 1));
  return { fraction, pct: `${String(Math.floor(fraction * 100)).padStart(3)}%`, elapsed, detail: row.detail };
}

/** The rows of one command, in the order they started; `apply` returns the rows it changed. */
export class ProgressRows {
  readonly rows: Row[] = [];
  readonly #meters = new Map<string, ByteMeter>();

  apply(event: CliEvent, now = Date.now()): Row[] {
    if (event.type === 'progress') return this.#progress(event, now);
    if (event.type === 'download') return this.#download(event, now);
    if (event.type === 'done') return this.finishAll(now);
    if (event.type === 'saved') return this.finishAll(now);
    return [];
  }

  /** Every row not finished yet is (the job went on past it, or is over), but those of `except`. */
  finishAll(now: number, except: readonly string[] = []): Row[] {
    const changed = this.rows.filter((row) => row.finishedAt === undefined && !except.includes(row.key));
    for (const row of changed) row.finishedAt = now;
    return changed;
  }

  #progress(event: ProgressEvent, now: number): Row[] {
    const update = describe(event, this.#meter(keyOf(event)), now);
    // A later row means the earlier ones are over: git does not start a stage before the last one ends,
    // nor the worker a phase. (The download row is the client's own and ends by itself.)
    const finished = this.finishAll(now, [update.key, 'download']);
    return [...finished, this.#put(update, now)];
  }

  #download(event: DownloadEvent, now: number): Row[] {
    const meter = this.#meter('download');
    const total = event.total;
    const row = this.#put(
      {
        key: 'download',
        label: 'download',
        value: event.bytes,
        total,
        detail: meter.detail(event.bytes, total, now, event.connections),
        finishedDetail: formatBytes(total ?? event.bytes),
      },
      now,
    );
    if (total !== undefined && event.bytes >= total) row.finishedAt = now;
    return [row];
  }

  #put(update: Omit<Row, 'startedAt'>, now: number): Row {
    const existing = this.rows.find((row) => row.key === update.key);
    if (existing) {
      // A row shown finished that moves again (a download started over): it runs again, from its start.
      Object.assign(existing, update, { finishedAt: undefined });
      return existing;
    }
    const row: Row = { ...update, startedAt: now };
    this.rows.push(row);
    return row;
  }

  #meter(key: string): ByteMeter {
    let meter = this.#meters.get(key);
    if (!meter) this.#meters.set(key, (meter = new ByteMeter()));
    return meter;
  }
}

function keyOf(event: ProgressEvent): string {
  if (event.phase !== 'fetching') return event.phase;
  const stage = event.stage ?? gitCounts(event.message)?.stage;
  return stage ? `fetching:${stage}` : 'fetching';
}

/** `receiving objects 120/4031` (and from workers before `stage`, `remote 1/9148`): counts at the end. */
function gitCounts(message: string | undefined): { stage: string; done: number; total: number } | undefined {
  const match = /^(.*?)[: ]+(\d+)\/(\d+)\s*$/.exec(message ?? '');
  if (!match) return undefined;
  return { stage: match[1] ?? '', done: Number(match[2]), total: Number(match[3]) };
}

function describe(event: ProgressEvent, meter: ByteMeter, now: number): Omit<Row, 'startedAt'> {
  const { phase } = event;
  const key = keyOf(event);
  const base = { key, label: phase };
  const message = event.message ?? '';
  if (phase === 'queued') {
    const position = event.queuePosition ?? 0;
    const detail = position > 0 ? `position ${position} in the queue` : 'starting';
    return { ...base, value: 0, total: undefined, detail, finishedDetail: '' };
  }
  if (phase === 'fetching') {
    const counts = event.stageDone !== undefined ? { done: event.stageDone, total: event.stageTotal } : gitCounts(message);
    const received = event.bytes === undefined ? '' : `, ${meter.detail(event.bytes, undefined, now)}`;
    if (!counts || counts.total === undefined) {
      return { ...base, value: counts?.done ?? 0, total: undefined, detail: `${message}${received}`, finishedDetail: message };
    }
    // At its end a stage has counted everything: the counts say so, as the bar does (the bytes last
    // reported are left out, being short of the end).
    const atEnd = message.replace(/\b\d+\/(\d+)\s*$/, '$1/$1');
    return { ...base, value: counts.done, total: counts.total, detail: `${message}${received}`, finishedDetail: atEnd };
  }
  if (phase === 'downloading' || phase === 'archiving' || phase === 'bundling' || phase === 'uploading') {
    const bytes = event.bytes ?? 0;
    const total = event.total;
    const note = phase === 'downloading' && message ? ` (${message})` : '';
    // Without a total (an archive's size is known only at its end), a finished row says only that it is done.
    return { ...base, value: bytes, total, detail: `${meter.detail(bytes, total, now)}${note}`, finishedDetail: total === undefined ? '' : formatBytes(total) };
  }
  if (event.percent !== undefined) return { ...base, value: event.percent, total: 100, detail: message, finishedDetail: message };
  return { ...base, value: 0, total: undefined, detail: message, finishedDetail: message };
}

// The rate over the last few seconds, not since the start: a continued download starts with bytes it
// did not fetch now, and a link's rate changes.
const RATE_SPAN_MS = 5000;

/** `12 MiB / 50 MiB, 4.2 MiB/s, 9 s left, 6 connections`: bytes, rate and time left of one transfer. */
export class ByteMeter {
  #samples: { at: number; bytes: number }[] = [];

  detail(bytes: number, total: number | undefined, now: number, connections?: number): string {
    // A transfer that starts over (another object, a spoiled one) would read as a negative rate.
    if ((this.#samples.at(-1)?.bytes ?? 0) > bytes) this.#samples = [];
    this.#samples.push({ at: now, bytes });
    while (this.#samples.length > 2 && now - (this.#samples[1]?.at ?? now) > RATE_SPAN_MS) this.#samples.shift();
    const first = this.#samples[0] as { at: number; bytes: number };
    const parts = [`${formatBytes(bytes)}${total !== undefined ? ` / ${formatBytes(total)}` : ''}`];
    const seconds = (now - first.at) / 1000;
    const rate = seconds >= 0.5 ? (bytes - first.bytes) / seconds : undefined;
    if (rate !== undefined && bytes !== total) {
      parts.push(`${formatBytes(rate)}/s`);
      if (total !== undefined && rate > 0) parts.push(`${formatDuration((total - bytes) / rate)} left`);
    }
    if (connections !== undefined && connections > 1) parts.push(`${connections} connections`);
    return parts.join(', ');
  }
}

export function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** `0:07`, `12:30`, `1:02:03`: how long a row has taken. */
export function formatClock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mmss = `${Math.floor((s % 3600) / 60)}:${String(s % 60).padStart(2, '0')}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss.padStart(5, '0')}` : mmss;
}
