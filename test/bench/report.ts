// The printed table and test/artifacts/bench.json. A missed target is reported, never an exit code.
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';

export type Verdict = 'PASS' | 'FAIL' | 'info';

export interface Row {
  metric: string;
  ferry: string;
  baseline: string;
  ratio: string;
  target: string;
  result: Verdict;
  /** What the row stands for. */
  note?: string;
}

export function machine(): Record<string, string | number> {
  const version = (command: string, args: string[]): string => {
    try {
      return execFileSync(command, args, { encoding: 'utf8' }).trim();
    } catch {
      return 'unknown';
    }
  };
  return {
    nproc: Number(version('nproc', [])) || cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    git: version('git', ['--version']),
    kernel: version('uname', ['-sr']),
  };
}

export function printTable(rows: Row[]): void {
  const header: Row = { metric: 'metric', ferry: 'ferry', baseline: 'baseline', ratio: 'ratio', target: 'target', result: 'info' };
  const cells = (row: Row): string[] => [row.metric, row.ferry, row.baseline, row.ratio, row.target, row === header ? 'result' : row.result];
  const widths = cells(header).map((_, i) => Math.max(...[header, ...rows].map((row) => cells(row)[i]?.length ?? 0)));
  const line = (row: Row): string => cells(row).map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  const notes = rows.filter((row) => row.note);
  if (notes.length > 0) console.log('');
  for (const row of notes) console.log(`  ${row.metric}: ${row.note}`);
}

export function summary(rows: Row[]): string {
  const judged = rows.filter((row) => row.result === 'PASS' || row.result === 'FAIL');
  const failed = judged.filter((row) => row.result === 'FAIL').map((row) => row.metric);
  let text = `bench: ${judged.length - failed.length}/${judged.length} targets met`;
  if (failed.length > 0) text += `; missed: ${failed.join(', ')}`;
  return text;
}

export async function writeJson(file: string, data: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const millis = (ms: number): string => `${ms.toFixed(0)} ms`;
export const megabytes = (bytes: number | undefined): string => (bytes === undefined ? 'n/a' : `${(bytes / 1024 ** 2).toFixed(0)} MB`);
export const ratio = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');
export const verdict = (ok: boolean): Verdict => (ok ? 'PASS' : 'FAIL');

/** A latency row judged by its ratio to the native baseline. */
export function ratioRow(metric: string, ferryMs: number, nativeMs: number, maxRatio: number, note: string): Row {
  return {
    metric,
    ferry: seconds(ferryMs),
    baseline: seconds(nativeMs),
    ratio: ratio(ferryMs / nativeMs),
    target: `ratio <= ${maxRatio}`,
    result: verdict(ferryMs / nativeMs <= maxRatio),
    note,
  };
}

export interface RunEnd {
  /** Where the JSON artifact goes. */
  file: string;
  rows: Row[];
  config: unknown;
  results: Record<string, unknown>;
  /** os.loadavg() when the run began: figures taken on a busy machine say so. */
  loadBefore: number[];
  elapsedMs: number;
  log: (line: string) => void;
}

/** Ends a bench run alike for every bench: the table, the summary line, the load average before and after, the JSON artifact. */
export async function finishRun(end: RunEnd): Promise<void> {
  console.log('');
  printTable(end.rows);
  console.log('');
  const line = summary(end.rows);
  console.log(line);
  const loadAfter = loadavg();
  const loads = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  console.log(`load average before ${loads(end.loadBefore)}, after ${loads(loadAfter)}; ${seconds(end.elapsedMs)} in all`);
  await writeJson(end.file, { date: new Date().toISOString(), machine: machine(), config: end.config, rows: end.rows, summary: line, loadavg: { before: end.loadBefore, after: loadAfter }, results: end.results });
  end.log(`wrote ${end.file}`);
}
