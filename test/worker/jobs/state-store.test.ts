import { describe, expect, it } from 'vitest';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import type { JobState } from '../../../src/protocol/job.js';
import { MemoryStore } from '../fakes.js';

// The in-memory store of test/worker/fakes.ts: this suite is about which copy JobStateStore answers with, not about OSS.
const memoryStore = (): MemoryStore => new MemoryStore();

const state = (status: JobState['status'], updatedAt: number, phase?: JobState['phase']): JobState => ({
  jobId: 'job-1234567890',
  status,
  repo: 'https://github.com/a/b',
  ref: 'main',
  commit: 'a'.repeat(40),
  format: 'zip',
  createdAt: 1,
  updatedAt,
  ...(phase && { phase }),
});

describe('JobStateStore', () => {
  it('answers a job this instance runs from memory, without reading OSS', async () => {
    const store = memoryStore();
    const states = new JobStateStore();
    states.remember(state('running', 10, 'fetching'), true);
    await states.write(store, state('queued', 5, 'queued'));
    expect(await states.load(store, 'job-1234567890')).toMatchObject({ status: 'running', phase: 'fetching' });
    expect(store.reads).toBe(0);
  });

  it('reads OSS for a job queued here but running elsewhere, and takes the newer copy', async () => {
    const store = memoryStore();
    const states = new JobStateStore();
    await states.save(store, state('queued', 5, 'queued'));
    // Another instance runs it and stores its progress.
    store.objects.set('jobs/job-1234567890.json', Buffer.from(JSON.stringify(state('running', 20, 'archiving'))));
    expect(await states.load(store, 'job-1234567890')).toMatchObject({ status: 'running', phase: 'archiving' });
    expect(store.reads).toBe(1);
  });

  it('a delayed write of an older state never replaces the newer one in memory', async () => {
    const store = memoryStore();
    const states = new JobStateStore();
    states.remember(state('running', 30, 'uploading'), true);
    await states.write(store, state('running', 10, 'fetching'));
    expect(await states.load(undefined, 'job-1234567890')).toMatchObject({ phase: 'uploading' });
  });

  it('serves finished jobs from memory and forgets the oldest beyond its limit', async () => {
    const store = memoryStore();
    const states = new JobStateStore(2);
    for (const id of ['job-a000000001', 'job-b000000002', 'job-c000000003']) states.remember({ ...state('done', 1), jobId: id });
    expect(await states.load(undefined, 'job-a000000001')).toBeUndefined();
    expect(await states.load(store, 'job-c000000003')).toMatchObject({ status: 'done' });
    expect(store.reads).toBe(0);
  });

  it('reads a record stored before kinds as an archive', async () => {
    const store = memoryStore();
    store.objects.set('jobs/job-1234567890.json', Buffer.from(JSON.stringify(state('done', 5))));
    expect(await new JobStateStore().load(store, 'job-1234567890')).toMatchObject({ kind: 'archive', status: 'done' });
  });
});
