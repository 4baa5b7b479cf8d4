/**
 * The bookkeeping of a parallel download without any socket: which piece comes next, how the tail is
 * split, what a failed connection gives back, what the journal records; and the rule that adds
 * connections, driven with explicit clock values.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJournal } from '../../src/client/download-journal.js';
import { merge, RangePlan } from '../../src/client/download-ranges.js';
import { ConnectionGovernor, MAX_WINDOW_MS } from '../../src/client/download-tuning.js';

/** Marks a piece as fully received and written. */
function fill(piece: { start: number; end: number; received: number; written: number }, bytes = piece.end - piece.start): void {
  piece.received = bytes;
  piece.written = bytes;
}

describe('RangePlan', () => {
  it('hands out pieces lowest first, then halves of the largest remainder, and is complete once all are written', () => {
    const plan = new RangePlan(1000, [], 300, 50);
    const pieces = [plan.take(), plan.take(), plan.take(), plan.take()];
    expect(pieces.map((piece) => piece && [piece.start, piece.end])).toEqual([[0, 300], [300, 600], [600, 900], [900, 1000]]);
    fill(pieces[0]!);
    plan.finish(pieces[0]!);
    fill(pieces[3]!);
    plan.finish(pieces[3]!);
    // Nothing unclaimed: the piece with the most left gives its upper half.
    pieces[1]!.received = 100;
    pieces[2]!.received = 20;
    const stolen = plan.take()!;
    expect([stolen.start, stolen.end]).toEqual([600 + 20 + 140, 900]);
    expect(pieces[2]!.end).toBe(760);
    expect(plan.complete).toBe(false);
    for (const piece of [pieces[1]!, pieces[2]!, stolen]) {
      fill(piece);
      plan.finish(piece);
    }
    expect(plan.complete).toBe(true);
    expect(plan.ranges()).toEqual([[0, 1000]]);
  });

  it('does not split a remainder smaller than twice the least worth a connection', () => {
    const plan = new RangePlan(100, [], 100, 30);
    const only = plan.take()!;
    only.received = 50;
    expect(plan.take()).toBeUndefined();
  });

  it('gives back what a failed connection did not write, first in line, and keeps what it did', () => {
    const plan = new RangePlan(1000, [], 400, 50);
    const first = plan.take()!;
    plan.take();
    first.received = 150;
    first.written = 100;
    plan.release(first);
    expect(plan.contiguous()).toBe(100);
    const again = plan.take()!;
    expect([again.start, again.end]).toEqual([100, 400]);
  });

  it('starts from the ranges a journal kept, counting them in what is written and in the contiguous prefix', () => {
    const plan = new RangePlan(1000, [[0, 200], [500, 600]], 1000, 50);
    expect(plan.written()).toBe(300);
    expect(plan.contiguous()).toBe(200);
    const next = plan.take()!;
    expect([next.start, next.end]).toEqual([200, 500]);
    next.written = 300;
    // An active piece's written bytes count too: the journal written now records them.
    expect(plan.ranges()).toEqual([[0, 600]]);
    expect(plan.contiguous()).toBe(600);
    expect(plan.take()).toMatchObject({ start: 600, end: 1000 });
  });

  it('merges touching and overlapping ranges', () => {
    expect(merge([[5, 6], [0, 2], [2, 3], [1, 2], [7, 7]])).toEqual([[0, 3], [5, 6]]);
  });
});

describe('readJournal', () => {
  it('trusts only a journal whose ranges are sorted, disjoint and inside the object', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-journal-'));
    try {
      const path = join(dir, 'a.part.json');
      const journal = { version: 1, size: 100, etag: '"x"', sha256: 'a'.repeat(64), done: [[0, 10], [20, 30]] };
      await writeFile(path, JSON.stringify(journal));
      expect(await readJournal(path)).toEqual(journal);
      for (const done of [[[0, 10], [5, 30]], [[0, 101]], [[10, 10]], [[20, 30], [0, 10]], [['0', 10]]]) {
        await writeFile(path, JSON.stringify({ ...journal, done }));
        expect(await readJournal(path)).toBeUndefined();
      }
      await writeFile(path, '{"version":1,');
      expect(await readJournal(path)).toBeUndefined();
      expect(await readJournal(join(dir, 'none.json'))).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('ConnectionGovernor', () => {
  it('waits until every connection delivers, doubles while the rate rises, and stops at the first step that does not raise it', () => {
    const governor = new ConnectionGovernor(4, 32);
    governor.latency = MAX_WINDOW_MS; // the longest window: 1 s
    expect(governor.tick(0, 0, false)).toBe(0);
    expect(governor.tick(0, 0, true)).toBe(0); // the window opens
    expect(governor.tick(1000, 4000, true)).toBe(4); // 4 B/ms measured: double
    expect(governor.tick(1100, 4400, false)).toBe(0); // the new ones are not delivering yet
    expect(governor.tick(1200, 4800, true)).toBe(0);
    expect(governor.tick(2200, 12_800, true)).toBe(8); // 8 B/ms: up by more than 15 %
    expect(governor.tick(2300, 13_600, true)).toBe(0);
    expect(governor.tick(3300, 22_000, true)).toBe(0); // 8.4 B/ms: not enough, settled
    expect(governor.tick(9000, 99_000, true)).toBe(0);
  });

  it('never goes past the most connections', () => {
    const governor = new ConnectionGovernor(4, 6);
    governor.latency = MAX_WINDOW_MS;
    governor.tick(0, 0, true);
    expect(governor.tick(1000, 1000, true)).toBe(2);
    governor.tick(1000, 1000, true);
    expect(governor.tick(5000, 1e9, true)).toBe(0);
  });
});
