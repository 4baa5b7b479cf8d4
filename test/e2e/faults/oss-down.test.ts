import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { startAsyncWorker } from '../../helpers/async-worker.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { fixtureRoot } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ossEnv } from '../../helpers/oss-env.js';
import { findLeftovers, settledLeftovers } from '../../helpers/stack-leftovers.js';
import { waitFor, waitForJob } from '../../helpers/wait.js';

// The worker's OSS endpoint is a fault proxy in front of the local store. Once the job's upload has
// begun (its first part upload), OSS goes down: every request to it is dropped with a reset, as from a
// store that is gone, until the test brings it back. The job must end STORAGE_UNAVAILABLE, the multipart
// upload must be aborted once OSS is back (the worker keeps trying in the background), and the next job
// must be fine.
const KEY = { accessKeyId: 'LTAI-faults', accessKeySecret: 'faults-secret' };
let git: GitServer;
let oss: OssServer;
let proxy: FaultProxy;
let fc: FcEmulator;
let temp: string;
let bucket: ObjectStore;

beforeAll(async () => {
  const root = await fixtureRoot();
  git = await startGitServer({ root });
  temp = await mkdtemp(join(tmpdir(), 'ferry-faults-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  const target = new URL(oss.endpoint);
  proxy = await startFaultProxy({ target: { host: target.hostname, port: Number(target.port) }, unit: 'request' });
  // Small parts, so the upload is under way (a multipart upload begun) when OSS goes down.
  fc = await startAsyncWorker({ git, oss, key: KEY, workDir: join(temp, 'work'), env: { FERRY_OSS_ENDPOINT: proxy.url, FERRY_PART_SIZE: String(100 * 1024), FERRY_MAX_ARCHIVE_BYTES: String(512 * 1024 * 1024), FERRY_MAX_FILE_BYTES: String(512 * 1024 * 1024) } });
  // The test's own client of the bucket, straight to the store, for the leases.
  bucket = createObjectStore(storageTarget(loadConfig({ ...ossEnv(oss, KEY), FERRY_OSS_ACCESS_KEY_ID: KEY.accessKeyId, FERRY_OSS_ACCESS_KEY_SECRET: KEY.accessKeySecret }).oss));
});

afterAll(async () => {
  await fc?.close();
  await proxy?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('OSS down for a whole upload', () => {
  it('the job ends STORAGE_UNAVAILABLE, its multipart upload is aborted once OSS is back, and the next job is fine', async () => {
    // Down from the first part upload on: every request after it fails too (the aborts included).
    let down = false;
    proxy.setRule({ fault: { type: 'drop', reset: true }, match: (head) => (down ||= head.method === 'PUT' && head.path.includes('partNumber=')) });
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    const failed = await waitForJob(fc.url, jobId, 120_000);
    expect(failed).toMatchObject({ status: 'error', code: 'STORAGE_UNAVAILABLE' });
    expect(down).toBe(true);
    // While OSS is down the begun upload is still there: nothing could abort it.
    expect((await findLeftovers({ ossDataDir: join(temp, 'oss') })).uploads).not.toEqual([]);

    proxy.setRule({ fault: { type: 'pass' } });
    // The abort and the lease's release are each tried again in the background, on their own schedules.
    await waitFor(async () => {
      const { uploads, leases } = await findLeftovers({ ossDataDir: join(temp, 'oss'), store: bucket });
      return uploads.length === 0 && leases.length === 0;
    }, 120_000, 'the unfinished upload to be aborted and the lease released');
    expect(await settledLeftovers({ ossDataDir: join(temp, 'oss'), workDir: join(temp, 'work'), store: bucket })).toEqual({ uploads: [], leases: [], tempFiles: [] });

    const next = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/many`, format: 'zip' }) });
    expect(next.status).toBe(202);
    const done = await waitForJob(fc.url, ((await next.json()) as { jobId: string }).jobId, 120_000);
    expect(done).toMatchObject({ status: 'done' });
    const bytes = Buffer.from(await (await fetch(done.url as string)).arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.sha256);
    expect(await settledLeftovers({ ossDataDir: join(temp, 'oss'), workDir: join(temp, 'work'), store: bucket })).toEqual({ uploads: [], leases: [], tempFiles: [] });
    // OSS being back does not turn the failed job into something else: it stays ended as it was told.
    expect(await (await fetch(`${fc.url}/jobs/${jobId}`)).json()).toMatchObject({ status: 'error', code: 'STORAGE_UNAVAILABLE' });
  });
});
