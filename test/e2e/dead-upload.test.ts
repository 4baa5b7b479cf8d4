import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { loadConfig } from '../../src/worker/config.js';
import { createObjectStore, storageTarget } from '../../src/worker/storage/oss-store.js';
import { UPLOADS_PREFIX } from '../../src/worker/storage/upload-records.js';
import { startAsyncStage, submitJob, type AsyncStage } from '../helpers/async-stage.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { ossEnv } from '../helpers/oss-env.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

// A worker SIGKILLed in the middle of a multipart upload: the worker reaches OSS through the fault proxy,
// which holds the first part upload (the upload is initiated, a part is on its way), and the instance is
// killed then. The job's next attempt must abort the dead upload and finish; the store keeps no
// unfinished upload and no upload record.
const KEY = { accessKeyId: 'LTAI-dead-upload', accessKeySecret: 'dead-upload-secret' };
let stage: AsyncStage;
let proxy: FaultProxy;
let fc: FcEmulator;

beforeAll(async () => {
  stage = await startAsyncStage({ name: 'dead-upload', key: KEY });
  proxy = await startFaultProxy({
    target: stage.ossTarget,
    unit: 'request',
    rule: { fault: { type: 'stall' }, times: 1, match: (head) => head.method === 'PUT' && head.path.includes('partNumber=') },
  });
  fc = await stage.startWorker({
    // Parts of 100 KiB, one at a time: the archive goes multipart and its first part is the one held.
    env: { ...ossEnv(stage.oss), FERRY_OSS_ENDPOINT: proxy.url, FERRY_PART_SIZE: String(100 * 1024), FERRY_PARTS_IN_FLIGHT: '1', FERRY_MAX_ARCHIVE_BYTES: String(100 * 1024 ** 2), FERRY_MAX_FILE_BYTES: String(100 * 1024 ** 2) },
  });
});

afterAll(() => stage?.close(proxy));

describe('a worker killed mid-upload', () => {
  it('leaves an upload the next attempt aborts: the job completes and no unfinished upload remains', async () => {
    const jobId = await submitJob(fc.url, { url: `${stage.git.url}/fixtures/many`, format: 'zip' });

    await waitFor(() => proxy.stats.faults >= 1, 60_000, 'the first part upload to be held');
    expect(await readdir(join(stage.temp, 'oss', '.uploads'))).toHaveLength(1);
    const pid = fc.runtimePid();
    process.kill(-(pid as number), 'SIGKILL');
    proxy.destroyConnections();

    expect(await waitForJob(fc.url, jobId, 90_000)).toMatchObject({ status: 'done', attempt: 2 });
    expect(await readdir(join(stage.temp, 'oss', '.uploads'))).toEqual([]);
    const store = createObjectStore(storageTarget(loadConfig(ossEnv(stage.oss, KEY)).oss));
    expect(await store.list(UPLOADS_PREFIX)).toEqual([]);
  });
});
