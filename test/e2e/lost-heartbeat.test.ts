import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startAsyncStage, submitJob, type AsyncStage } from '../helpers/async-stage.js';
import { jobState, waitFor } from '../helpers/wait.js';

// No on-failure destination: once FC's retries are spent nothing tells the job's end but its stopped
// heartbeat, which the next reader of GET /jobs/:id finds past the bound (3 heartbeats of 1 s here).
const KEY = { accessKeyId: 'LTAI-lost', accessKeySecret: 'lost-secret' };
let stage: AsyncStage;
let fc: FcEmulator;

beforeAll(async () => {
  stage = await startAsyncStage({ name: 'lost', key: KEY, gitDelayMs: 1500 });
  fc = await stage.startWorker({ failureDestination: false, env: { FERRY_HEARTBEAT: '1', FERRY_WORKER_LOST_AFTER: '3' } });
});

afterAll(() => stage?.close());

const state = (jobId: string): Promise<Record<string, unknown> | undefined> => jobState(fc.url, jobId);

describe('a job whose heartbeat stopped', () => {
  it('is answered, and recorded, as WORKER_LOST by the next reader', async () => {
    const jobId = await submitJob(fc.url, { url: `${stage.git.url}/fixtures/many`, format: 'zip' });

    // Every attempt that runs is killed with its instance, until the job ends one way or another.
    const killed = new Set<unknown>();
    const final = await waitFor(async () => {
      const current = await state(jobId);
      if (current?.status === 'done' || current?.status === 'error') return current;
      if (current?.status === 'running' && !killed.has(current.attempt)) {
        const pid = fc.runtimePid();
        if (pid === undefined) return undefined;
        killed.add(current.attempt);
        process.kill(-pid, 'SIGKILL');
      }
      return undefined;
    }, 120_000, 'the job to end', 200);

    expect(final).toMatchObject({ status: 'error', code: 'WORKER_LOST', message: expect.stringContaining('has not said it is alive') });
    // Recorded: a later reader (any instance) reads the same end from the bucket.
    expect(await state(jobId)).toMatchObject({ status: 'error', code: 'WORKER_LOST' });
  });
});
