import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { JobRunner } from '../../../src/worker/jobs/runner.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { Quotas } from '../../../src/worker/quotas/quotas.js';
import { SharedCounters } from '../../../src/worker/quotas/shared-counters.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ossEnv } from '../../helpers/oss-env.js';

// Limits that end a running job: bytes fetched, artifact size, job time, free disk. Each test has its own
// bucket and work dir, so what is left behind is only what that job left: no mirror or temporary directory,
// no object, no unfinished multipart upload (the local store keeps those under <dataDir>/.uploads).

const KEY = { accessKeyId: 'LTAI-limits', accessKeySecret: 'limits-secret' };
let git: GitServer;
let slowGit: GitServer;
let oss: OssServer;
let temp: string;
let root: string;
let base: Config;
let runs = 0;

beforeAll(async () => {
  root = await fixtureRoot();
  git = await startGitServer({ root });
  // Each request waits a second: a job on it outlives a short job time limit.
  slowGit = await startGitServer({ root, delayMs: 1000 });
  temp = await mkdtemp(join(tmpdir(), 'ferry-limits-'));
  const buckets = Array.from({ length: 6 }, (_, i) => `limits-${i}`);
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets });
  base = loadConfig({ ...ossEnv(oss, KEY), FERRY_ALLOWED_HOSTS: `${git.host},${slowGit.host}`, FERRY_ALLOW_HTTP: '1' });
});

afterAll(async () => {
  await oss?.close();
  await git?.close();
  await slowGit?.close();
  await rm(temp, { recursive: true, force: true });
});

interface Setup {
  config: Config;
  store: ObjectStore;
  runner: JobRunner;
  multipartStarts: () => number;
}

function setup(change: (config: Config) => Config): Setup {
  const n = runs++;
  const config = change({ ...base, workDir: join(temp, `work-${n}`), oss: { ...base.oss, bucket: `limits-${n}` } });
  const real = createObjectStore(storageTarget(config.oss));
  let starts = 0;
  // The real store, with a count of multipart uploads begun (so a test knows its limit tripped mid-upload).
  const store: ObjectStore = { ...real, initMultipart: (key, headers) => (starts++, real.initMultipart(key, headers)) };
  const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: config.allowedHosts });
  const quotas = new Quotas({ limits: config.quotas, counters: new SharedCounters(), workDir: config.workDir, pending: () => 0 });
  const mirrors = new MirrorCache({ workDir: config.workDir, git: context, maxFetchBytes: config.quotas.maxFetchBytes, beforeFetch: () => quotas.assertDiskRoom() });
  const runner = new JobRunner({ config, git: context, mirrors, refs: new RefsCache({ git: context }), states: new JobStateStore() });
  return { config, store, runner, multipartStarts: () => starts };
}

async function spec(server: GitServer, repo: string, id: string): Promise<JobSpec> {
  const commit = await gitRevParse(join(root, `fixtures/${repo}.git`), 'HEAD');
  return { jobId: `limits-${id}-0000000000`, repo: `${server.url}/fixtures/${repo}`, ref: 'main', commit, format: 'zip', createdAt: Date.now() };
}

/** The bucket's objects but the job's state record and the build lease's released marker (lease.ts keeps it). */
async function artifacts(store: ObjectStore, jobId: string): Promise<string[]> {
  const objects = (await store.list('')).map((object) => object.key);
  expect(objects).toContain(`jobs/${jobId}.json`);
  return objects.filter((key) => key !== `jobs/${jobId}.json` && !key.startsWith('leases/'));
}

/** Nothing of the job is left: no object, no multipart upload, no mirror or temp dir. */
async function expectNothingLeft(setup: Setup, jobId: string): Promise<void> {
  expect(await artifacts(setup.store, jobId)).toEqual([]);
  expect(await readdir(join(temp, 'oss', '.uploads'))).toEqual([]);
  expect(await readdir(join(setup.config.workDir, 'mirrors')).catch(() => [])).toEqual([]);
}

describe('limits that end a job', () => {
  it('stops a git fetch past FERRY_MAX_FETCH_BYTES with TOO_LARGE and leaves no mirror, temp dir or object', async () => {
    const limits = setup((config) => ({ ...config, quotas: { ...config.quotas, maxFetchBytes: 16 * 1024 } }));
    const job = await spec(git, 'many', 'fetch');
    const { state } = await limits.runner.run(job, limits.store);
    expect(state).toMatchObject({ status: 'error', error: { code: 'TOO_LARGE' } });
    expect(state.error?.message).toMatch(/FERRY_MAX_FETCH_BYTES/);
    expect(limits.multipartStarts()).toBe(0);
    await expectNothingLeft(limits, job.jobId);
  });

  it('stops a bundle clone past FERRY_MAX_FETCH_BYTES the same way, its temporary clone removed', async () => {
    const limits = setup((config) => ({ ...config, quotas: { ...config.quotas, maxFetchBytes: 16 * 1024 } }));
    const job: JobSpec = { ...(await spec(git, 'many', 'bundle')), kind: 'bundle', format: 'bundle' };
    const { state } = await limits.runner.run(job, limits.store);
    expect(state).toMatchObject({ status: 'error', error: { code: 'TOO_LARGE' } });
    expect(state.error?.message).toMatch(/FERRY_MAX_FETCH_BYTES/);
    await expectNothingLeft(limits, job.jobId);
  });

  it('stops an upload past FERRY_MAX_ARCHIVE_BYTES with TOO_LARGE, aborting its multipart upload', async () => {
    // 100 KiB parts: two are uploaded before the archive passes 250 KiB.
    const limits = setup((config) => ({ ...config, maxArchiveBytes: 250 * 1024, oss: { ...config.oss, partSize: 100 * 1024 } }));
    const job = await spec(git, 'many', 'upload');
    const { state } = await limits.runner.run(job, limits.store);
    expect(state).toMatchObject({ status: 'error', error: { code: 'TOO_LARGE' } });
    expect(state.error?.message).toMatch(/250 KiB/);
    expect(state.error?.message).toMatch(/FERRY_MAX_ARCHIVE_BYTES/);
    expect(limits.multipartStarts()).toBe(1);
    expect(await artifacts(limits.store, job.jobId)).toEqual([]);
    expect(await readdir(join(temp, 'oss', '.uploads'))).toEqual([]);
  });

  it('ends a job past FERRY_JOB_TIMEOUT with TIMEOUT naming the limit, and leaves nothing behind', async () => {
    const limits = setup((config) => ({ ...config, jobTimeoutMs: 300 }));
    const job = await spec(slowGit, 'basic', 'time');
    const { state } = await limits.runner.run(job, limits.store);
    expect(state).toMatchObject({ status: 'error', error: { code: 'TIMEOUT' } });
    expect(state.error?.message).toMatch(/FERRY_JOB_TIMEOUT/);
    await expectNothingLeft(limits, job.jobId);
  });

  it('refuses to fetch with less free disk than FERRY_MIN_FREE_BYTES: INSUFFICIENT_STORAGE (507)', async () => {
    const limits = setup((config) => ({ ...config, quotas: { ...config.quotas, minFreeBytes: 8 * 1024 ** 5 } }));
    const job = await spec(git, 'basic', 'disk');
    const { state } = await limits.runner.run(job, limits.store);
    expect(state).toMatchObject({ status: 'error', error: { code: 'INSUFFICIENT_STORAGE' } });
    await expectNothingLeft(limits, job.jobId);
  });
});
