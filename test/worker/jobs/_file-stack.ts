import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import type { DoneResult, JobMessage, JobSpec } from '../../../src/protocol/job.js';
import { loadConfig, type Config } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import { initialState, JobRunner, type JobOutcome } from '../../../src/worker/jobs/runner.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createSubmit, type Submission } from '../../../src/worker/jobs/submit.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { ossEnv } from '../../helpers/oss-env.js';

// File jobs below the API, end to end: POST /jobs's submit path (validation, cache lookup and revalidation)
// dispatching onto a real runner of one worker instance, the local OSS store through ali-oss.

const KEY = { accessKeyId: 'LTAI-file', accessKeySecret: 'file-secret' };

export interface FileStack {
  oss: OssServer;
  config: Config;
  store: ObjectStore;
  /** POST /jobs without HTTP; a queued job runs on this stack's runner, and `outcome` is its end. */
  submit(url: string): Promise<SubmittedFile>;
  /** A job event for `url` run as it arrives (no submit path before it: no cache lookup, no URL check). */
  run(url: string): Promise<SubmittedFile>;
  /** Stops this stack's running jobs, as an instance's shutdown does. */
  abort(): Promise<void>;
  /** Multipart uploads begun and neither completed nor aborted. */
  openUploads(): Promise<number>;
  close(): Promise<void>;
}

export interface SubmittedFile {
  submission: Submission;
  /** The job's end: the done state itself when it was answered from the cache. */
  outcome: Promise<JobOutcome | undefined>;
  /** Every message the job emitted, in order (none for a cache hit). */
  messages: JobMessage[];
}

export async function startFileStack(env: Record<string, string>): Promise<FileStack> {
  const temp = await mkdtemp(join(tmpdir(), 'ferry-file-'));
  const oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  const config = loadConfig({ ...ossEnv(oss, KEY), FERRY_ALLOW_HTTP: '1', FERRY_CONCURRENCY: '20', FERRY_WORK_DIR: join(temp, 'work'), ...env });
  const store = createObjectStore(storageTarget(config.oss));
  // The loopback upstreams a test names are explicitly allowed past the SSRF guard.
  const git = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: config.fileHosts });
  const runner = new JobRunner({ config, git, mirrors: new MirrorCache({ workDir: config.workDir, git }), refs: new RefsCache({ git }), states: new JobStateStore() });
  const runs = new Map<string, { outcome: Promise<JobOutcome>; messages: JobMessage[] }>();
  const dispatcher: Dispatcher = {
    async dispatch(spec: JobSpec, jobStore: ObjectStore) {
      const messages: JobMessage[] = [];
      runs.set(spec.jobId, { messages, outcome: runner.run(spec, jobStore, [(message) => void messages.push(message)]) });
    },
  };
  const submit = createSubmit({ config, states: new JobStateStore(), dispatcher, notifier: undefined, storeFor: () => store, git, refs: new RefsCache({ git }) });
  return {
    oss,
    config,
    store,
    async submit(url) {
      const submission = await submit({ body: { kind: 'file', url } });
      const run = runs.get(submission.state.jobId);
      return { submission, outcome: run ? run.outcome : Promise.resolve(undefined), messages: run?.messages ?? [] };
    },
    async run(url) {
      const spec: JobSpec = { jobId: `file-${randomUUID()}`, kind: 'file', repo: url, ref: '', commit: '', format: 'file', createdAt: Date.now() };
      await dispatcher.dispatch(spec, store);
      const run = runs.get(spec.jobId) as { outcome: Promise<JobOutcome>; messages: JobMessage[] };
      return { submission: { outcome: 'queued', state: initialState(spec) }, outcome: run.outcome, messages: run.messages };
    },
    abort: () => runner.abort(),
    async openUploads() {
      return (await readdir(join(temp, 'oss', '.uploads')).catch(() => [])).length;
    },
    async close() {
      await runner.idle();
      await oss.close();
      await rm(temp, { recursive: true, force: true });
    },
  };
}

/** The done result of a submitted file job: from the cache at once, or once its job ended done. */
export async function fileDone(submitted: SubmittedFile): Promise<DoneResult> {
  if (submitted.submission.outcome === 'cached') return submitted.submission.state.result as DoneResult;
  const outcome = await submitted.outcome;
  expect(outcome?.state, JSON.stringify(outcome?.state.error)).toMatchObject({ status: 'done', result: { format: 'file' } });
  return outcome?.state.result as DoneResult;
}

/** The error a submitted file job ended with (or that POST /jobs answered). */
export async function fileError(submitted: Promise<SubmittedFile>): Promise<{ code: string; message: string }> {
  let job: SubmittedFile;
  try {
    job = await submitted;
  } catch (error) {
    return error as { code: string; message: string };
  }
  const outcome = await job.outcome;
  expect(outcome?.state.status).toBe('error');
  return outcome?.state.error as { code: string; message: string };
}

/** The bytes behind a done result's signed URL. */
export async function downloaded(done: DoneResult): Promise<Buffer> {
  const response = await fetch(done.url);
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}
