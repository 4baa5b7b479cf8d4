import { MultiBar } from 'cli-progress';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliEvent } from '../../src/client/events.js';
import { ProgressRows, rowText } from '../../src/client/progress-rows.js';
import { BAR_OPTIONS, barLine, barsView, linesView } from '../../src/client/progress-view.js';
import type { Phase, ProgressMessage } from '../../src/protocol/job.js';
import { FakeTerminal } from '../helpers/fake-terminal.js';
import { ROOT } from '../helpers/worker-process.js';

const MiB = 1024 ** 2;
const progress = (phase: Phase, detail: Partial<ProgressMessage> = {}): CliEvent => ({ v: 1, type: 'progress', jobId: 'j1', phase, ts: 0, ...detail });
const fetching = (stage: string, done: number, total: number | undefined, message: string, extra: Partial<ProgressMessage> = {}): CliEvent =>
  progress('fetching', { stage, stageDone: done, ...(total !== undefined && { stageTotal: total }), message, ...extra });
const done: CliEvent = {
  v: 1, type: 'done', jobId: 'j1', url: 'http://x/a.zip', expiresAt: '', filename: 'express-1234567.zip', size: 6.6 * MiB,
  sha256: 'a'.repeat(64), commit: 'c'.repeat(40), ref: 'master', format: 'zip', cached: false,
};

// A 9,148-object repository as the worker reports it (the messages of issue 12's report, in the new vocabulary).
const JOB: CliEvent[] = [
  progress('queued', { queuePosition: 0 }),
  progress('resolving', { percent: 100, message: 'master → 3c46fa1ad573' }),
  progress('fetching', { stage: 'connecting', message: 'contacting github.com' }),
  fetching('enumerating', 9148, undefined, 'enumerating objects on the server: 9148'),
  fetching('counting', 6730, 6797, 'counting objects on the server 6730/6797', { percent: 9 }),
  fetching('receiving', 3660, 9148, 'receiving objects 3660/9148', { percent: 48, bytes: 2.4 * MiB }),
  fetching('receiving', 9057, 9148, 'receiving objects 9057/9148', { percent: 89, bytes: 6.5 * MiB }),
  progress('archiving', { bytes: 0 }),
  progress('archiving', { bytes: 3 * MiB }),
  progress('uploading', { bytes: 0, total: 6.6 * MiB, percent: 0 }),
  progress('uploading', { bytes: 6 * MiB, total: 6.6 * MiB, percent: 90 }),
  progress('signing'),
  done,
  { type: 'download', bytes: 0, total: 6.6 * MiB },
  { type: 'download', bytes: 6.6 * MiB, total: 6.6 * MiB },
];

/** Each shown line's percent agrees with the counts or sizes beside it. */
function contradictions(line: string): string[] {
  const pct = /\|\s*(\d+)%/.exec(line)?.[1];
  if (pct === undefined) return [];
  const counts = /(\d+)\/(\d+)/.exec(line);
  const sizes = /([\d.]+) MiB \/ ([\d.]+) MiB/.exec(line);
  const pair = counts ?? sizes;
  if (!pair) return [];
  const expected = Math.floor((Number(pair[1]) / Number(pair[2])) * 100);
  // Sizes are rounded to one decimal: allow that much.
  return Math.abs(expected - Number(pct)) <= (counts ? 0 : 2) ? [] : [line];
}

function drawn(events: CliEvent[]): { screens: string[][]; final: string[] } {
  const terminal = new FakeTerminal();
  const multi = new MultiBar({ ...BAR_OPTIONS, stream: terminal as unknown as NodeJS.WriteStream });
  const view = barsView(multi);
  const screens: string[][] = [];
  for (const event of events) {
    view.event(event);
    // What cli-progress's timer would do between events, without waiting for it.
    multi.update();
    screens.push(terminal.screen());
  }
  view.stop();
  return { screens, final: terminal.screen() };
}

describe('barsView (on a fake terminal: CI has no real one)', () => {
  it('never shows a percent that disagrees with the counts or sizes on its line', () => {
    const { screens, final } = drawn(JOB);
    const lines = [...screens.flat(), ...final];
    expect(lines.flatMap(contradictions)).toEqual([]);
    // The report's `100% receiving 9057/9148` and `100% 6.0 MiB / 6.6 MiB`.
    expect(lines.filter((line) => / 100% .*9057\/9148/.test(line) || / 100% .*6\.0 MiB \/ 6\.6 MiB/.test(line))).toEqual([]);
  });

  it("shows git's counting and receiving as stages of their own, in words, each bar only moving forward", () => {
    const { screens, final } = drawn(JOB);
    const fetchRows = final.filter((line) => line.startsWith(' fetching'));
    expect(fetchRows.map((line) => line.replace(/^.*\| done\s+\d+:\d\d /, ''))).toEqual([
      'contacting github.com',
      'enumerating objects on the server: 9148',
      'counting objects on the server 6797/6797',
      'receiving objects 9148/9148',
    ]);
    expect(final.join('\n')).not.toMatch(/remote \d/);
    // Row by row, screen after screen, a bar's filled part never shrinks.
    const filled = new Map<string, number>();
    for (const screen of screens) {
      for (const line of screen) {
        const match = /^ (\S+)\s+\|(█*)░*\|.*?(\d+:\d\d) (\D*)/.exec(line);
        if (!match) continue;
        const key = `${match[1]} ${match[4]}`;
        expect(match[2]?.length ?? 0).toBeGreaterThanOrEqual(filled.get(key) ?? 0);
        filled.set(key, match[2]?.length ?? 0);
      }
    }
  });

  it('shows archiving (no total) as bytes without a percent, and every row with its elapsed time', () => {
    const { screens, final } = drawn(JOB);
    const archiving = screens.flat().filter((line) => line.startsWith(' archiving') && !line.includes('done'));
    expect(archiving.length).toBeGreaterThan(0);
    for (const line of archiving) {
      expect(line).not.toMatch(/\d%/);
      expect(line).toMatch(/\|░+\|\s+\d+:\d\d (0 B|3\.0 MiB)/);
    }
    for (const line of final.filter((l) => l.startsWith(' '))) expect(line).toMatch(/\| (done|\s*\d+%|\s{4}) +\d+:\d\d/);
  });

  it('leaves no stale copy of a row after the `built` line: each row once, below it', () => {
    const { final } = drawn(JOB);
    expect(final.filter((line) => line.startsWith('built '))).toEqual(['built express-1234567.zip (6.6 MiB)']);
    const rows = final.filter((line) => line.startsWith(' '));
    const keys = rows.map((line) => line.replace(/\|.*?\d+:\d\d/, '|'));
    expect(new Set(keys).size).toBe(keys.length);
    expect(final.indexOf('built express-1234567.zip (6.6 MiB)')).toBe(0);
    expect(rows.map((line) => line.trim().split(' ')[0])).toEqual([
      'queued', 'resolving', 'fetching', 'fetching', 'fetching', 'fetching', 'archiving', 'uploading', 'signing', 'download',
    ]);
  });

  it("reads workers older than `stage` by the counts in their message, still one row per stage", () => {
    const rows = new ProgressRows();
    rows.apply(progress('fetching', { percent: 99, message: 'remote 6730/6797' }), 0);
    rows.apply(progress('fetching', { percent: 40, message: 'receiving 3660/9148' }), 1000);
    expect(rows.rows.map((row) => [row.key, rowText(row, 2000).pct, rowText(row, 2000).detail])).toEqual([
      ['fetching:remote', 'done', 'remote 6797/6797'],
      ['fetching:receiving', ' 40%', 'receiving 3660/9148'],
    ]);
  });
});

describe('linesView', () => {
  it('writes each row once as it starts, with its elapsed time, and a percent only against a total', () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    let now = 0;
    const view = linesView(out, () => now);
    for (const event of JOB) {
      now += 100;
      view.event(event);
    }
    const lines = text.trim().split('\n');
    expect(lines).toContain('fetching: 99% counting objects on the server 6730/6797 (0:00)');
    expect(lines).toContain('fetching: 40% receiving objects 3660/9148, 2.4 MiB (0:00)');
    expect(lines).toContain('archiving: 0 B (0:00)');
    expect(lines).toContain('built express-1234567.zip (6.6 MiB)');
    expect(lines.filter((line) => line.startsWith('archiving'))).toEqual(['archiving: 0 B (0:00)']);
    expect(lines.flatMap((line) => contradictions(`|${line.replace(/^\w+: /, '')}`))).toEqual([]);
  });
});

describe('docs/cli.md', () => {
  it('shows the progress rows as they are drawn', async () => {
    const docs = await readFile(join(ROOT, 'docs/cli.md'), 'utf8');
    const rows = new ProgressRows();
    const at = (seconds: number, event: CliEvent): void => void rows.apply(event, seconds * 1000);
    at(0, progress('queued', { queuePosition: 0 }));
    at(0.5, progress('resolving', { percent: 100, message: 'master → 3c46fa1ad573' }));
    at(1.5, progress('fetching', { stage: 'connecting', message: 'contacting github.com' }));
    at(4.5, fetching('enumerating', 9148, undefined, 'enumerating objects on the server: 9148'));
    at(5.5, fetching('counting', 6730, 6797, 'counting objects on the server 6730/6797', { percent: 9 }));
    at(7.5, fetching('receiving', 1, 9148, 'receiving objects 1/9148', { percent: 20, bytes: 0 }));
    at(12.5, fetching('receiving', 3660, 9148, 'receiving objects 3660/9148', { percent: 48, bytes: 2.4 * MiB }));
    for (const row of rows.rows) expect(docs).toContain(barLine(row, 12_500));
  });
});
