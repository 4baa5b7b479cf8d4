import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { FcEmulator } from '../../src/local/fc/index.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { startAsyncWorker, type AsyncWorkerOptions } from './async-worker.js';
import { fixtureRoot } from './fixtures.js';
import { startGitServer, type GitServer } from './git-server.js';

/**
 * What the async-worker fault tests start alike: a git server over the fixtures, a temp dir, the local OSS
 * store (bucket `ferry`, one key) under it, then the worker behind the FC emulator (test/helpers/async-worker.ts).
 * Started in two steps so a test can put something (a fault proxy) between the worker and the store.
 */
export interface AsyncStage {
  git: GitServer;
  oss: OssServer;
  key: AsyncWorkerOptions['key'];
  /** The stage's temp dir: the store's data in `oss/`, the worker's work dir in `work/`. */
  temp: string;
  /** The store's host and port, for a proxy in front of it. */
  ossTarget: { host: string; port: number };
  startWorker(options?: Pick<AsyncWorkerOptions, 'env' | 'failureDestination' | 'log'>): Promise<FcEmulator>;
  /** Closes the worker, then `between` (what stood between it and the store), the store, git; removes the dir. */
  close(...between: Array<{ close(): Promise<void> } | undefined>): Promise<void>;
}

export interface AsyncStageOptions {
  /** Names the temp dir. */
  name: string;
  key: AsyncWorkerOptions['key'];
  /** Delays every git answer, so a job is still fetching when the test acts on it. */
  gitDelayMs?: number;
}

export async function startAsyncStage(options: AsyncStageOptions): Promise<AsyncStage> {
  const git = await startGitServer({ root: await fixtureRoot(), ...(options.gitDelayMs !== undefined && { delayMs: options.gitDelayMs }) });
  const temp = await mkdtemp(join(tmpdir(), `ferry-${options.name}-`));
  let oss: OssServer;
  try {
    oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [options.key], buckets: ['ferry'] });
  } catch (error) {
    await git.close();
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
  const endpoint = new URL(oss.endpoint);
  let fc: FcEmulator | undefined;
  return {
    git,
    oss,
    key: options.key,
    temp,
    ossTarget: { host: endpoint.hostname, port: Number(endpoint.port) },
    async startWorker(worker = {}) {
      fc = await startAsyncWorker({ ...worker, git, oss, key: options.key, workDir: join(temp, 'work') });
      return fc;
    },
    async close(...between) {
      await fc?.close();
      for (const part of between) await part?.close();
      await oss.close();
      await git.close();
      await rm(temp, { recursive: true, force: true });
    },
  };
}

/** POST /jobs on `base` with `body`, which must be accepted (202); resolves with the job's id. */
export async function submitJob(base: string, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${base}/jobs`, { method: 'POST', body: JSON.stringify(body) });
  expect(response.status).toBe(202);
  return ((await response.json()) as { jobId: string }).jobId;
}
