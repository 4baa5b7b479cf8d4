import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { loadConfig } from '../../src/worker/config.js';
import { createObjectStore, storageTarget } from '../../src/worker/storage/oss-store.js';
import { UPLOADS_PREFIX } from '../../src/worker/storage/upload-records.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startAsyncWorker } from '../helpers/async-worker.js';
import { ossEnv } from '../helpers/oss-env.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

// A worker SIGKILLed in the middle of a multipart upload: the worker reaches OSS through the fault proxy,
// which holds the first part upload (the upload is initiated, a part is on its way), and the instance is
// killed then. The job's next attempt must abort the dead upload and finish; the store keeps no
// unfinished upload and no upload record.
const KEY = { accessKeyId: 'LTAI-dead-upload', accessKeySecret: 'dead-upload-secret' };
let git: GitServer;
let oss: OssServer;
let proxy: FaultProxy;
let fc: FcEmulator;
let temp: string;

beforeAll(async () => {
  git = await startGitServer({ root: await fixtureRoot() });
  temp = await mkdtemp(join(tmpdir(), 'ferry-dead-upload-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  const target = new URL(oss.endpoint);
  proxy = await startFaultProxy({
    target: { host: target.hostname, port: Number(target.port) },
    unit: 'request',
    rule: { fault: { type: 'stall' }, times: 1, match: (head) => head.method === 'PUT' && head.path.includes('partNumber=') },
  });
  fc = await startAsyncWorker({
    git,
    oss,
    key: KEY,
    workDir: join(temp, 'work'),
    // Parts of 100 KiB, one at a time: the archive goes multipart and its first part is the one held.
    env: { ...ossEnv(oss), FERRY_OSS_ENDPOINT: proxy.url, FERRY_PART_SIZE: String(100 * 1024), FERRY_PARTS_IN_FLIGHT: '1', FERRY_MAX_ARCHIVE_BYTES: String(100 * 1024 ** 2), FERRY_MAX_FILE_BYTES: String(100 * 1024 ** 2) },
  });
});

afterAll(async () => {
  await fc?.close();
  await proxy?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('a worker killed mid-upload', () => {
  it('leaves an upload the next attempt aborts: the job completes and no unfinished upload remains', async () => {
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };

    await waitFor(() => proxy.stats.faults >= 1, 60_000, 'the first part upload to be held');
    expect(await readdir(join(temp, 'oss', '.uploads'))).toHaveLength(1);
    const pid = fc.runtimePid();
    process.kill(-(pid as number), 'SIGKILL');
    proxy.destroyConnections();

    expect(await waitForJob(fc.url, jobId, 90_000)).toMatchObject({ status: 'done', attempt: 2 });
    expect(await readdir(join(temp, 'oss', '.uploads'))).toEqual([]);
    const store = createObjectStore(storageTarget(loadConfig(ossEnv(oss, KEY)).oss));
    expect(await store.list(UPLOADS_PREFIX)).toEqual([]);
  });
});
