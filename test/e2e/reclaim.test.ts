import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startAsyncWorker } from '../helpers/async-worker.js';
import { waitFor } from '../helpers/wait.js';

// The worker behind the FC emulator, dispatching jobs to itself as async invocations, as in
// production. Closing the emulator reclaims the instance as FC does: GET /pre-stop, then SIGTERM.
const KEY = { accessKeyId: 'LTAI-reclaim', accessKeySecret: 'reclaim-secret' };
let git: GitServer;
let oss: OssServer;
let fc: FcEmulator;
let temp: string;

beforeAll(async () => {
  // Slow enough that the job is still fetching when the instance is reclaimed.
  git = await startGitServer({ root: await fixtureRoot(), delayMs: 1500 });
  temp = await mkdtemp(join(tmpdir(), 'ferry-reclaim-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  fc = await startAsyncWorker({ git, oss, key: KEY, workDir: join(temp, 'work'), env: { FERRY_PRE_STOP_GRACE: '0' } });
});

afterAll(async () => {
  await fc?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('an instance reclaimed mid-job', () => {
  it('stores WORKER_STOPPING for the job before the runtime goes, and leaves nothing half-made behind', async () => {
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    await waitFor(async () => ((await (await fetch(`${fc.url}/jobs/${jobId}`)).json()) as { phase?: string }).phase === 'fetching', 20_000, 'the fetching phase');

    await fc.close();
    const client = new OSS({ endpoint: oss.endpoint, region: oss.region, bucket: 'ferry', ...KEY, authorizationV4: true });
    const stored = JSON.parse((await client.get(`jobs/${jobId}.json`)).content.toString('utf8')) as Record<string, unknown>;
    // A job event: FC's async retry takes it to another instance, which is what the message says.
    expect(stored).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING', message: expect.stringContaining('retries the job on another instance') } });
    expect(await readdir(join(temp, 'oss', '.uploads'))).toEqual([]);
    // No half-made mirror: a clone interrupted mid-fetch is removed, only whole mirrors remain.
    const mirrors = await readdir(join(temp, 'work', 'mirrors')).catch(() => [] as string[]);
    expect(mirrors.filter((name) => name.includes('.tmp-'))).toEqual([]);
  });
});
