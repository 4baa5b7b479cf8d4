import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startAsyncStage, submitJob, type AsyncStage } from '../helpers/async-stage.js';
import { jobState, waitFor } from '../helpers/wait.js';

// The worker behind the FC emulator, dispatching jobs to itself as async invocations, as in
// production. Closing the emulator reclaims the instance as FC does: GET /pre-stop, then SIGTERM.
const KEY = { accessKeyId: 'LTAI-reclaim', accessKeySecret: 'reclaim-secret' };
let stage: AsyncStage;
let fc: FcEmulator;

beforeAll(async () => {
  // Slow enough that the job is still fetching when the instance is reclaimed.
  stage = await startAsyncStage({ name: 'reclaim', key: KEY, gitDelayMs: 1500 });
  fc = await stage.startWorker({ env: { FERRY_PRE_STOP_GRACE: '0' } });
});

afterAll(() => stage?.close());

describe('an instance reclaimed mid-job', () => {
  it('stores WORKER_STOPPING for the job before the runtime goes, and leaves nothing half-made behind', async () => {
    const jobId = await submitJob(fc.url, { url: `${stage.git.url}/fixtures/many`, format: 'zip' });
    await waitFor(async () => (await jobState(fc.url, jobId))?.phase === 'fetching', 20_000, 'the fetching phase');

    await fc.close();
    const client = new OSS({ endpoint: stage.oss.endpoint, region: stage.oss.region, bucket: 'ferry', ...KEY, authorizationV4: true });
    const stored = JSON.parse((await client.get(`jobs/${jobId}.json`)).content.toString('utf8')) as Record<string, unknown>;
    // A job event: FC's async retry takes it to another instance, which is what the message says.
    expect(stored).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING', message: expect.stringContaining('retries the job on another instance') } });
    expect(await readdir(join(stage.temp, 'oss', '.uploads'))).toEqual([]);
    // No half-made mirror: a clone interrupted mid-fetch is removed, only whole mirrors remain.
    const mirrors = await readdir(join(stage.temp, 'work', 'mirrors')).catch(() => [] as string[]);
    expect(mirrors.filter((name) => name.includes('.tmp-'))).toEqual([]);
  });
});
