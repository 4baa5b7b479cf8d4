import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startAsyncWorker } from '../helpers/async-worker.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

// The worker behind the FC emulator, dispatching jobs to itself as async invocations, as in
// production. Killing the runtime mid-job is a real fault: FC's async retry must finish the job.
const KEY = { accessKeyId: 'LTAI-crash', accessKeySecret: 'crash-secret' };
let git: GitServer;
let oss: OssServer;
let fc: FcEmulator;
let temp: string;
let root: string;

beforeAll(async () => {
  root = await fixtureRoot();
  git = await startGitServer({ root, delayMs: 400 });
  temp = await mkdtemp(join(tmpdir(), 'ferry-crash-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  fc = await startAsyncWorker({ git, oss, key: KEY, workDir: join(temp, 'work') });
});

afterAll(async () => {
  await fc?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

async function state(jobId: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${fc.url}/jobs/${jobId}`)).json()) as Record<string, unknown>;
}

describe('a worker that dies mid-job', () => {
  it('is replaced, and the async invocation is retried to the end', async () => {
    const commit = await gitRevParse(join(root, 'fixtures/many.git'), 'main');
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };

    // Wait until the job is fetching on the runtime, then take the whole instance down.
    await waitFor(async () => ((await state(jobId)).phase === 'fetching' ? true : undefined), 20_000, 'the fetching phase');
    const pid = fc.runtimePid();
    expect(pid).toBeGreaterThan(0);
    process.kill(-(pid as number), 'SIGKILL');

    // Polls through the runtime's restart: a refused poll is asked again.
    const done = await waitForJob(fc.url, jobId);
    expect(done).toMatchObject({ status: 'done', commit, format: 'zip' });
    expect(fc.runtimePid()).not.toBe(pid);
  });
});
