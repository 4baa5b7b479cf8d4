import { describe, expect, it } from 'vitest';
import type { DoneResult } from '../../../src/protocol/job.js';
import { WaitingJobs, type WaitingJob } from '../../../src/worker/jobs/waiting.js';

const RESULT: DoneResult = { url: 'u', expiresAt: 'e', filename: 'f.zip', size: 1, sha256: 'a'.repeat(64), commit: 'c', ref: 'main', format: 'zip', cached: true };

/** A waiting job whose artifact exists once `built` is set; records what it was answered with. */
function job(jobId: string, key: string, artifact: { built: boolean }): WaitingJob & { answers: DoneResult[] } {
  const answers: DoneResult[] = [];
  return { jobId, key, answers, lookup: async () => (artifact.built ? RESULT : undefined), answer: (result) => void answers.push(result) };
}

describe('WaitingJobs', () => {
  it('answers the jobs of a settled key whose lookup finds the artifact, and only those', async () => {
    const waiting = new WaitingJobs();
    const a = { built: false };
    const b = { built: false };
    const [a1, a2, b1] = [job('a1', 'A', a), job('a2', 'A', a), job('b1', 'B', b)];
    for (const j of [a1, a2, b1]) waiting.add(j);
    await waiting.settle('A');
    expect(a1.answers).toEqual([]);
    a.built = true;
    await waiting.settle('A');
    expect([a1.answers, a2.answers, b1.answers]).toEqual([[RESULT], [RESULT], []]);
    // Answered once: a second settle finds nothing left under A.
    await waiting.settle('A');
    expect(a1.answers).toHaveLength(1);
    expect(waiting.size).toBe(1);
    // The job's own run learns it has nothing to do; a job never answered is handed to its run.
    expect(await waiting.take('a1')).toEqual(RESULT);
    expect(await waiting.take('b1')).toBeUndefined();
    expect(waiting.size).toBe(0);
  });

  it('lets a run that takes a job during its lookup see the answer rather than race it', async () => {
    const waiting = new WaitingJobs();
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const answers: string[] = [];
    waiting.add({ jobId: 'j', key: 'K', lookup: async () => (await gate, RESULT), answer: () => void answers.push('answered') });
    const settling = waiting.settle('K');
    const taking = waiting.take('j');
    finish();
    await settling;
    expect(await taking).toEqual(RESULT);
    expect(answers).toEqual(['answered']);
  });

  it('hands a replaced job to its new answerer, and forgets a removed one', async () => {
    const waiting = new WaitingJobs();
    const built = { built: true };
    const first = job('j', 'K', built);
    const second = job('j', 'K', built);
    waiting.add(first);
    waiting.add(second);
    waiting.add(job('gone', 'K', built));
    waiting.remove('gone');
    await waiting.check('j');
    expect([first.answers.length, second.answers.length]).toEqual([0, 1]);
    expect(await waiting.take('gone')).toBeUndefined();
  });

  it('drops entries past their age or over the limit', async () => {
    let now = 0;
    const waiting = new WaitingJobs({ maxAgeMs: 1000, limit: 3, clock: () => now });
    const built = { built: true };
    waiting.add(job('old', 'K', built));
    now = 2000;
    waiting.add(job('new1', 'K', built));
    expect(waiting.size).toBe(1);
    waiting.add(job('new2', 'K', built));
    waiting.add(job('new3', 'K', built));
    waiting.add(job('new4', 'K', built));
    expect(waiting.size).toBe(3);
    await waiting.settle('K');
    expect(await waiting.take('new1')).toBeUndefined();
    expect(await waiting.take('new4')).toEqual(RESULT);
  });
});
