import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { JobRunner } from '../../../src/worker/jobs/runner.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createLiveness } from '../../../src/worker/jobs/liveness.js';
import { createFindJob } from '../../../src/worker/jobs/submit.js';
import type { JobMessage, JobSpec, JobState } from '../../../src/protocol/job.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { jobStateKey } from '../../../src/worker/storage/keys.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ossEnv } from '../../helpers/oss-env.js';
import { waitFor } from '../../helpers/wait.js';

const KEY = { accessKeyId: 'LTAI-runner', accessKeySecret: 'runner-secret' };
let git: GitServer;
let oss: OssServer;
let temp: string;
let root: string;
let config: Config;
let store: ObjectStore;
let fetches = 0;

beforeAll(async () => {
  root = await fixtureRoot();
  // Every request waits, so a job lasts long enough for others to queue behind it.
  git = await startGitServer({
    root,
    delayMs: 150,
    onRequest: (req) => {
      if (req.method === 'POST' && req.url?.endsWith('/git-upload-pack')) fetches++;
    },
  });
  temp = await mkdtemp(join(tmpdir(), 'ferry-runner-'));
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  config = loadConfig({
    ...ossEnv(oss, KEY),
    FERRY_ALLOWED_HOSTS: git.host,
    FERRY_ALLOW_HTTP: '1',
    FERRY_WORK_DIR: join(temp, 'work'),
    FERRY_CONCURRENCY: '1',
  });
  store = createObjectStore(storageTarget(config.oss));
});

afterAll(async () => {
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

function runner(settings: Config = config): JobRunner {
  const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: settings.allowedHosts });
  return new JobRunner({ config: settings, git: context, mirrors: new MirrorCache({ workDir: settings.workDir, git: context }), refs: new RefsCache({ git: context }), states: new JobStateStore() });
}

async function spec(id: string, ref: string, format: JobSpec['format'] = 'zip'): Promise<JobSpec> {
  const commit = await gitRevParse(join(root, 'fixtures/basic.git'), `${ref}^{commit}`);
  return { jobId: `job-${id}-000000000000`, repo: `${git.url}/fixtures/basic`, ref, commit, format, createdAt: Date.now() };
}

describe('JobRunner', () => {
  it('runs one job at a time with FERRY_CONCURRENCY=1 and tells the waiting ones their place', async () => {
    const jobs = runner();
    const seen = new Map<string, JobMessage[]>();
    const order: string[] = [];
    const listen = (message: JobMessage): void => {
      seen.set(message.jobId, [...(seen.get(message.jobId) ?? []), message]);
      if (message.type !== 'progress' || message.phase === 'resolving') order.push(`${message.jobId}:${message.type === 'progress' ? 'start' : 'end'}`);
    };
    const specs = await Promise.all([spec('a', 'main'), spec('b', 'v1.0.0'), spec('c', 'v0.1')]);
    const outcomes = await Promise.all(specs.map((s) => jobs.run(s, store, [listen])));
    expect(outcomes.map((o) => o.state.status)).toEqual(['done', 'done', 'done']);

    const positions = (id: string): number[] =>
      (seen.get(id) ?? []).filter((m) => m.type === 'progress' && m.phase === 'queued').map((m) => (m.type === 'progress' ? m.queuePosition ?? -1 : -1));
    expect(positions(specs[0]!.jobId)).toEqual([0]);
    expect(positions(specs[1]!.jobId)).toEqual([1]);
    // The third moves up when the second starts.
    expect(positions(specs[2]!.jobId)).toEqual([2, 1]);
    // No two jobs overlapped: each started only after the previous one ended.
    expect(order).toEqual(specs.flatMap((s) => [`${s.jobId}:start`, `${s.jobId}:end`]));
  });

  it('builds an archive once when two jobs ask for it at the same moment', async () => {
    const jobs = runner();
    const before = fetches;
    const [first, second] = await Promise.all([spec('d', 'release', 'tar.gz'), spec('e', 'release', 'tar.gz')]);
    const [a, b] = await Promise.all([jobs.run(first!, store), jobs.run(second!, store)]);
    expect(a.state).toMatchObject({ status: 'done', result: { cached: false } });
    expect(b.state).toMatchObject({ status: 'done', result: { cached: true, sha256: a.state.result?.sha256 } });
    expect(fetches - before).toBe(1);
  });

  it('gives a job that waits for another one building the same archive that build\'s progress as its own', async () => {
    // Two slots: both jobs run at once, the second waiting on the first one's build rather than in the queue.
    const jobs = runner({ ...config, concurrency: 2, workDir: join(temp, 'work-watch') });
    const seen = new Map<string, JobMessage[]>();
    const listen = (message: JobMessage): void => void seen.set(message.jobId, [...(seen.get(message.jobId) ?? []), message]);
    const [first, second] = await Promise.all([spec('w1', 'v0.1', 'tar.gz'), spec('w2', 'v0.1', 'tar.gz')]);
    const [a, b] = await Promise.all([jobs.run(first!, store, [listen]), jobs.run(second!, store, [listen])]);
    const [builder, follower] = a.state.result?.cached === false ? [first!, second!] : [second!, first!];
    expect([a, b].map((o) => o.state.result?.cached).sort()).toEqual([false, true]);
    const phases = (id: string): string[] => (seen.get(id) ?? []).flatMap((m) => (m.type === 'progress' ? [m.phase] : []));
    expect(phases(builder.jobId)).toContain('archiving');
    // The follower built nothing, yet reported the build's phases as it went.
    expect(phases(follower.jobId)).toContain('archiving');
    expect((seen.get(follower.jobId) ?? []).some((m) => m.type === 'progress' && /another job on this worker is building this/.test(m.message ?? ''))).toBe(true);
  });

  it('stores the state once per phase, not again for the queued state POST /jobs has stored', async () => {
    const writes: string[] = [];
    // The real store, with a record of the state writes (jobs/<id>.json).
    const recording: ObjectStore = {
      ...store,
      put: async (key, body, headers) => {
        if (key.startsWith('jobs/')) writes.push((JSON.parse(body.toString('utf8')) as { status: string; phase?: string }).phase ?? '');
        return store.put(key, body, headers);
      },
    };
    await runner().run(await spec('w', 'feature/x', 'zip'), recording);
    expect(writes).toEqual(['resolving', 'fetching', 'archiving', 'uploading', 'signing', expect.any(String)]);
  });

  it('reports the phases in order and how long each took', async () => {
    const jobs = runner();
    const phases: string[] = [];
    const outcome = await jobs.run(await spec('f', 'feature/x', 'tar.gz'), store, [
      (message) => {
        const mark = message.type === 'progress' ? message.phase : message.type;
        if (phases.at(-1) !== mark) phases.push(mark);
      },
    ]);
    expect(phases).toEqual(['queued', 'resolving', 'fetching', 'archiving', 'uploading', 'signing', 'done']);
    expect(outcome.timings).toMatch(/^queued=\d+ms resolving=\d+ms fetching=\d+ms archiving=\d+ms uploading=\d+ms signing=\d+ms$/);
  });
});

describe('JobRunner shutting down', () => {
  let slow: GitServer;
  let slowConfig: Config;

  beforeAll(async () => {
    // Its own host, so nothing earlier tests cached applies, and slow enough that a job is still fetching.
    slow = await startGitServer({ root, delayMs: 1000 });
    slowConfig = { ...config, allowedHosts: [slow.host] };
  });
  afterAll(async () => {
    await slow?.close();
  });

  it('close() ends queued and later jobs at once, abort() the running one, each with WORKER_STOPPING and nothing after it', async () => {
    const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: slowConfig.allowedHosts });
    const jobs = new JobRunner({ config: slowConfig, git: context, mirrors: new MirrorCache({ workDir: join(temp, 'work-stop'), git: context }), refs: new RefsCache({ git: context }), states: new JobStateStore() });
    const commit = await gitRevParse(join(root, 'fixtures/basic.git'), 'main');
    const job = (id: string): JobSpec => ({ jobId: `job-${id}-stopping-000000`, repo: `${slow.url}/fixtures/basic`, ref: 'main', commit, format: 'zip', createdAt: Date.now() });
    const seen: JobMessage[] = [];
    const listen = (message: JobMessage): void => void seen.push(message);
    const [r, q, l] = [job('r'), job('q'), job('l')];

    const running = jobs.run(r, store, [listen]);
    const queued = jobs.run(q, store, [listen], { redelivered: true });
    await waitFor(() => seen.some((m) => m.jobId === r.jobId && m.type === 'progress' && m.phase === 'fetching'), 20_000, 'the first job to fetch');

    await jobs.close();
    // The queued job has ended (its run() returns once its turn passes, after the running one).
    expect(seen.filter((m) => m.jobId === q.jobId && m.type === 'error')).toEqual([
      expect.objectContaining({ code: 'WORKER_STOPPING', retrying: true, message: expect.stringContaining('retries the job on another instance') }),
    ]);
    expect((await jobs.run(l, store, [listen])).state).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING' } });
    expect(seen.some((m) => m.jobId === r.jobId && m.type !== 'progress')).toBe(false);

    await jobs.abort();
    expect((await running).state).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING', message: expect.stringContaining('Submit the job again') } });
    // Only a redelivered job is retried by FC, so only its error tells clients to keep waiting.
    expect((await running).state.error).not.toHaveProperty('retrying');
    expect((await queued).state).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING', retrying: true } });
    await jobs.idle();
    // Stored, and the error is each job's last word: its unwinding pipeline said nothing more.
    const stored = JSON.parse((await store.getText(jobStateKey(r.jobId))) ?? '{}') as Record<string, unknown>;
    expect(stored).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING' } });
    for (const id of [r.jobId, q.jobId, l.jobId]) expect(seen.filter((m) => m.jobId === id).at(-1)).toMatchObject({ type: 'error', code: 'WORKER_STOPPING' });
  });
});

describe('JobRunner and a reader deciding about the same job', () => {
  it('a new attempt that read a stale state is never overrun by a WORKER_LOST a reader records meanwhile', async () => {
    const states = new JobStateStore();
    const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: config.allowedHosts });
    const jobs = new JobRunner({ config, git: context, mirrors: new MirrorCache({ workDir: config.workDir, git: context }), refs: new RefsCache({ git: context }), states });
    const job = await spec('race', 'main');
    // The attempt before died long ago: its last heartbeat is past any bound.
    const stale: JobState = { jobId: job.jobId, kind: 'archive', status: 'running', phase: 'fetching', repo: job.repo, ref: job.ref, commit: job.commit, format: job.format, createdAt: job.createdAt, updatedAt: 1, attempt: 1, heartbeatAt: 1 };
    await states.write(store, stale);

    // The new attempt's read of that state is answered only once the reader has read it too: both decide
    // on the same stale state, the interleaving that let a reader record WORKER_LOST under a running attempt.
    let readerRead!: () => void;
    const readerHasRead = new Promise<void>((resolve) => (readerRead = resolve));
    let stateReads = 0;
    const gated: ObjectStore = Object.create(store) as ObjectStore;
    gated.getText = async (key) => {
      const text = await store.getText(key);
      if (key === jobStateKey(job.jobId) && ++stateReads === 1) await readerHasRead;
      else if (key === jobStateKey(job.jobId)) readerRead();
      return text;
    };
    const liveness = createLiveness({ states, notifier: undefined, lostAfterMs: 3000 });
    const findJob = createFindJob({ states, storeFor: () => gated, liveness });

    const run = jobs.run(job, gated, [], { redelivered: true });
    await waitFor(async () => stateReads >= 1 || undefined, 10_000, 'the attempt to read the stored state');
    const answered = await findJob(job.jobId, undefined);
    const outcome = await run;

    // One decision or the other, never both: the attempt claimed the job first, so the reader saw it running.
    expect(answered).toMatchObject({ status: 'queued', attempt: 1 });
    expect(outcome.state).toMatchObject({ status: 'done', attempt: 2 });
    expect(JSON.parse((await store.getText(jobStateKey(job.jobId))) as string)).toMatchObject({ status: 'done' });
  });
});
