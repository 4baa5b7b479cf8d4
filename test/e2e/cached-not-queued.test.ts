import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { loadConfig, type Config } from '../../src/worker/config.js';
import { parseRepoUrl } from '../../src/worker/git/url.js';
import { generationKey, leaseBody, leasePrefix, LEASE_HEADERS } from '../../src/worker/jobs/lease-objects.js';
import { archiveKeys } from '../../src/worker/storage/keys.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../src/worker/storage/oss-store.js';
import { startAsyncWorker } from '../helpers/async-worker.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { ossEnv } from '../helpers/oss-env.js';
import { waitFor, waitForJob } from '../helpers/wait.js';

// Defect: under load, a job whose artifact a build had just made waited in the FC emulator's
// first-in-first-out async queue behind unrelated builds. Builds are held here by a build lease the
// test owns (as if another instance were building), never by timing.
const KEY = { accessKeyId: 'LTAI-waiting', accessKeySecret: 'waiting-secret' };
let git: GitServer;
let oss: OssServer;
let fc: FcEmulator;
let temp: string;
let root: string;
let config: Config;
let store: ObjectStore;

beforeAll(async () => {
  root = await fixtureRoot();
  git = await startGitServer({ root });
  temp = await mkdtemp(join(tmpdir(), 'ferry-waiting-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  // The emulator's defaults: 4 async invocations at once, 2 jobs at once in the worker.
  fc = await startAsyncWorker({ git, oss, key: KEY, workDir: join(temp, 'work') });
  config = loadConfig({ ...ossEnv(oss, KEY), FERRY_ALLOWED_HOSTS: git.host, FERRY_ALLOW_HTTP: '1' });
  store = createObjectStore(storageTarget(config.oss));
});

afterAll(async () => {
  await fc?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

const repoUrl = (): string => `${git.url}/fixtures/basic`;

/** Takes the build lease of `ref`'s archive as another instance would, renewed far ahead so it never goes stale. */
async function holdBuild(ref: string, format: 'zip' | 'tar.gz' = 'zip'): Promise<() => Promise<void>> {
  const commit = await gitRevParse(join(root, 'fixtures/basic.git'), `${ref}^{commit}`);
  const key = archiveKeys(parseRepoUrl(repoUrl(), config).canonical, commit, format).object;
  const objectKey = generationKey(leasePrefix(key), 1);
  const record = { owner: 'test:held', token: `held-${ref}`, key, takenAt: Date.now(), renewedAt: Date.now() + 3_600_000 };
  await store.put(objectKey, leaseBody(record), LEASE_HEADERS);
  return () => store.put(objectKey, leaseBody({ ...record, released: true }), LEASE_HEADERS);
}

async function submit(ref: string, format = 'zip'): Promise<string> {
  const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: repoUrl(), ref, format }) });
  expect(response.status).toBe(202);
  return ((await response.json()) as { jobId: string }).jobId;
}

async function state(jobId: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${fc.url}/jobs/${jobId}`)).json()) as Record<string, unknown>;
}

describe('a job whose artifact a build has just made', () => {
  it('is done while unrelated builds still hold every async slot, without waiting for one', async () => {
    const releaseMain = await holdBuild('main');
    const others = ['feature/x', 'release', 'v1.0.0', 'v0.1'];
    const releaseOthers = await Promise.all(others.map((ref) => holdBuild(ref)));

    // The first job for main waits for its (held) build; then four unrelated held builds fill the
    // emulator's slots and the worker's, and a second job for main queues behind them all.
    const first = await submit('main');
    await waitFor(async () => ((await state(first)).phase === 'fetching' ? true : undefined), 20_000, 'the first job to wait for its build');
    const blocked = [];
    for (const ref of others) blocked.push(await submit(ref));
    const second = await submit('main');

    // The build of main goes ahead (the lease is released, so the first job builds it).
    await releaseMain();
    const firstDone = await waitForJob(fc.url, first);
    expect(firstDone).toMatchObject({ status: 'done', cached: false });

    // The second job is answered from the artifact while every unrelated build is still held.
    const secondDone = await waitForJob(fc.url, second);
    expect(secondDone).toMatchObject({ status: 'done', cached: true, sha256: firstDone.sha256 });
    for (const jobId of blocked) expect((await state(jobId)).status).not.toBe('done');

    // Released, the held builds finish too, each to its own artifact.
    await Promise.all(releaseOthers.map((release) => release()));
    for (const jobId of blocked) expect(await waitForJob(fc.url, jobId)).toMatchObject({ status: 'done' });
    // When the second job's own invocation finally runs, it changes nothing.
    expect(await state(second)).toMatchObject({ status: 'done', cached: true, sha256: firstDone.sha256 });
  });

  it('is answered at submit when it is already built, whatever waits in the queue', async () => {
    const release = await holdBuild('v0.1', 'tar.gz');
    const held = await submit('v0.1', 'tar.gz');
    // main's zip was built by the previous test.
    const response = await fetch(`${fc.url}/jobs`, { method: 'POST', body: JSON.stringify({ url: repoUrl(), ref: 'main', format: 'zip' }) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'done', cached: true });
    await release();
    expect(await waitForJob(fc.url, held)).toMatchObject({ status: 'done' });
  });
});
