import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startAsyncWorker } from '../helpers/async-worker.js';
import { waitFor } from '../helpers/wait.js';

// No on-failure destination: once FC's retries are spent nothing tells the job's end but its stopped
// heartbeat, which the next reader of GET /jobs/:id finds past the bound (3 heartbeats of 1 s here).
const KEY = { accessKeyId: 'LTAI-lost', accessKeySecret: 'lost-secret' };
let git: GitServer;
let oss: OssServer;
let fc: FcEmulator;
let temp: string;

beforeAll(async () => {
  git = await startGitServer({ root: await fixtureRoot(), delayMs: 1500 });
  temp = await mkdtemp(join(tmpdir(), 'ferry-lost-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  fc = await startAsyncWorker({
    git,
    oss,
    key: KEY,
    workDir: join(temp, 'work'),
    failureDestination: false,
    env: { FERRY_HEARTBEAT: '1', FERRY_WORKER_LOST_AFTER: '3' },
  });
});

afterAll(async () => {
  await fc?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

async function state(jobId: string): Promise<Record<string, unknown> | undefined> {
  const response = await fetch(`${fc.url}/jobs/${jobId}`).catch(() => undefined);
  return response?.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
}

describe('a job whose heartbeat stopped', () => {
  it('is answered, and recorded, as WORKER_LOST by the next reader', async () => {
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };

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
