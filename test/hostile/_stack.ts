/**
 * One real local stack per table file (gateway, FC emulator running ./bootstrap, the worker, the OSS store) in
 * front of a real git server whose requests are counted, plus the secrets the stack holds for the secret search.
 * Needs `npm run build` (the stack spawns ./bootstrap).
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadOrCreateCredentials, type LocalCredentials } from '../../src/local/credentials.js';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../src/local/stack.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { send, type Stage } from './_table.js';

export interface HostileStack {
  stack: LocalStack;
  git: GitServer;
  /** `http://127.0.0.1:<git port>/fixtures/basic`: a repository the stack may fetch. */
  repo: string;
  /** Every line the gateway, the FC emulator and the worker logged. */
  log: string[];
  /** The stack's dev credentials (app key and secret, the OSS and FC AccessKey, the dispatch secret). */
  credentials: LocalCredentials;
  secrets: Record<string, string>;
  stage(): Stage<HostileStack>;
  close(): Promise<void>;
}

export interface HostileStackOptions extends Omit<LocalStackOptions, 'dataDir' | 'log'> {}

export async function startHostileStack(options: HostileStackOptions = {}): Promise<HostileStack> {
  const git = await startGitServer({ root: await fixtureRoot() });
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-hostile-'));
  const log: string[] = [];
  let stack: LocalStack;
  try {
    stack = await startLocalStack({ ...options, dataDir, allowHosts: [git.host, ...(options.allowHosts ?? [])], allowHttp: options.allowHttp ?? true, log: (line) => log.push(line) });
  } catch (error) {
    await git.close();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const credentials = await loadOrCreateCredentials(dataDir);
  const secrets = {
    'app secret': credentials.appSecret,
    'OSS AccessKey secret': credentials.accessKey.accessKeySecret,
    'dispatch secret': credentials.dispatchSecret,
    // As src/local/stack.ts derives it: the header API Gateway's backend adds to every event.
    'gateway secret': createHmac('sha256', credentials.dispatchSecret).update('gateway').digest('hex'),
  };
  const hostile: HostileStack = {
    stack,
    git,
    repo: `${git.url}/fixtures/basic`,
    log,
    credentials,
    secrets,
    stage: () => ({
      target: hostile,
      gitRequests: () => git.requests,
      secrets,
      alive: async () => {
        const health = await send(stack.api, { path: '/healthz' });
        expect(health.status).toBe(200);
        expect(JSON.parse(health.body)).toMatchObject({ ok: true });
      },
    }),
    async close() {
      await stack.close();
      await git.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return hostile;
}

/** The worker's own port, from the line it logs once listening (loopback only, its HTTP API off in the stack). */
export function workerPort(log: readonly string[]): number {
  const line = log.find((l) => /ferry worker .* listening on /.test(l));
  const port = line && /:(\d+)\s*$/.exec(line)?.[1];
  if (!port) throw new Error(`no listening line in:\n${log.join('\n')}`);
  return Number(port);
}
