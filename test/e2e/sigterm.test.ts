import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startAsyncWorker } from '../helpers/async-worker.js';
import { waitFor } from '../helpers/wait.js';

// SIGTERM to a worker instance in the middle of a job, without a PreStop hook before it (docker stop,
// an instance reclaimed without the hook): the job is stopped and recorded as retryable
// (WORKER_STOPPING, retrying), its invocation fails, and FC's retry completes it on another instance.
const KEY = { accessKeyId: 'LTAI-sigterm', accessKeySecret: 'sigterm-secret' };
let git: GitServer;
let oss: OssServer;
let fc: FcEmulator;
let temp: string;
let root: string;
const lines: string[] = [];

beforeAll(async () => {
  root = await fixtureRoot();
  git = await startGitServer({ root, delayMs: 1500 });
  temp = await mkdtemp(join(tmpdir(), 'ferry-sigterm-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  fc = await startAsyncWorker({ git, oss, key: KEY, workDir: join(temp, 'work'), env: { FERRY_SIGTERM_GRACE: '0' }, log: (line) => lines.push(line) });
});

afterAll(async () => {
  await fc?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('a worker sent SIGTERM mid-job', () => {
  it('records the job as retryable, and another instance completes it', async () => {
    const commit = await gitRevParse(join(root, 'fixtures/many.git'), 'main');
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    await waitFor(async () => ((await (await fetch(`${fc.url}/jobs/${jobId}`)).json()) as { phase?: string }).phase === 'fetching', 20_000, 'the fetching phase');

    const pid = fc.runtimePid() as number;
    process.kill(-pid, 'SIGTERM');

    // First the stopped attempt's state: an error that says it is being retried, which a poller keeps waiting through.
    const states: Record<string, unknown>[] = [];
    const done = await waitFor(async () => {
      const state = await fetch(`${fc.url}/jobs/${jobId}`).then((r) => r.json() as Promise<Record<string, unknown>>).catch(() => undefined);
      if (state) states.push(state);
      return state?.status === 'done' || (state?.status === 'error' && state.retrying !== true) ? state : undefined;
    }, 90_000, 'the job to end');
    expect(done).toMatchObject({ status: 'done', commit, attempt: 2 });
    expect(fc.runtimePid()).not.toBe(pid);
    // The stopped attempt stored and logged its end as WORKER_STOPPING before its instance went.
    expect(lines.some((line) => line.startsWith(`job ${jobId} error WORKER_STOPPING`))).toBe(true);
    expect(states.some((state) => state.code === 'WORKER_STOPPING' && state.retrying === true)).toBe(true);
    expect(lines.some((line) => /drain: done; 0 finished, 1 stopped/.test(line))).toBe(true);
    expect(await readdir(join(temp, 'oss', '.uploads'))).toEqual([]);
  });
});
