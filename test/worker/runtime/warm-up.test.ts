import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/worker/config.js';
import type { Credentials } from '../../../src/protocol/credentials.js';
import { FerryError } from '../../../src/protocol/errors.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { createRuntimeServer } from '../../../src/worker/runtime/server.js';
import { createGitContext, type GitContext } from '../../../src/worker/git/context.js';
import type { ApiHandler } from '../../../src/worker/api/context.js';
import { warmUp } from '../../../src/worker/runtime/warm-up.js';
import { createWorker } from '../../../src/worker/worker.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { ossEnv } from '../../helpers/oss-env.js';

const KEY = { accessKeyId: 'LTAI-warm', accessKeySecret: 'warm-secret' };
let oss: OssServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-warm-'));
  oss = await startOssServer({ dataDir: join(dir, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
});

afterAll(async () => {
  await oss.close();
  await rm(dir, { recursive: true, force: true });
});

/** The real store, with a record of what warm-up asked of it. */
function recordingStore(credentialsSeen: (Credentials | undefined)[], reads: string[]) {
  const config = loadConfig(ossEnv(oss)); // no key in the environment: credentials come per invocation
  return (credentials: Credentials | undefined): ObjectStore => {
    credentialsSeen.push(credentials);
    const store = createObjectStore(storageTarget(config.oss, credentials));
    return {
      ...store,
      getText: async (key) => {
        const text = await store.getText(key);
        reads.push(`${key} → ${text === undefined ? 'absent' : 'present'}`);
        return text;
      },
    };
  };
}

/** A git context that records what warm-up asked of git: the transport probe and `git --version`. */
function recordingGit(record: string[], runGitVersion: () => Promise<string> = async () => 'git version 2.39.5\n'): GitContext {
  const git = createGitContext({ allowHttp: false, timeoutMs: 10_000, transport: 'direct', runGitVersion: () => (record.push('git --version'), runGitVersion()) });
  return { ...git, transport: () => (record.push('transport'), git.transport()) };
}

/** The worker's API, with a record of the requests warm-up made of it. */
function recordingApi(api: ApiHandler, record: string[]): ApiHandler {
  return (request, context) => (record.push(`${request.method} ${new URL(request.url).pathname}`), api(request, context));
}

describe('warm-up', () => {
  it('probes the transport, checks git, loads the API and reads one absent key from OSS with the credentials it is given', async () => {
    const seen: (Credentials | undefined)[] = [];
    const reads: string[] = [];
    const done: string[] = [];
    const worker = createWorker(loadConfig({ ...ossEnv(oss), FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    await warmUp({ api: recordingApi(worker.api, done), git: recordingGit(done), storeFor: recordingStore(seen, reads) }, KEY);
    expect([...done].sort()).toEqual(['GET /healthz', 'git --version', 'transport']);
    expect(seen).toEqual([KEY]);
    // A real round trip to the store: a wrong key would have made getText throw (403), not answer.
    expect(reads).toEqual(['jobs/.warm-up → absent']);
  });

  it('warms the API and checks git when no storage is configured, and asks no store for anything', async () => {
    const done: string[] = [];
    const storeCalls: (Credentials | undefined)[] = [];
    const worker = createWorker(loadConfig({ FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    const unconfigured = (credentials: Credentials | undefined): ObjectStore => {
      storeCalls.push(credentials);
      throw new FerryError('STORAGE_NOT_CONFIGURED', 'no storage');
    };
    await warmUp({ api: recordingApi(worker.api, done), git: recordingGit(done), storeFor: unconfigured }, undefined);
    expect([...done].sort()).toEqual(['GET /healthz', 'git --version', 'transport']);
    expect(storeCalls).toEqual([undefined]);
  });

  it('rejects with every failure (an unusable git, a store that refuses the key) after trying each step', async () => {
    const done: string[] = [];
    const worker = createWorker(loadConfig({ FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    const refusedConfig = loadConfig(ossEnv(oss, { accessKeyId: 'LTAI-nobody', accessKeySecret: 'x' }));
    const refusing = (credentials: Credentials | undefined): ObjectStore => createObjectStore(storageTarget(refusedConfig.oss, credentials));
    const oldGit = recordingGit(done, async () => 'git version 2.20.1\n');
    const error = await warmUp({ api: recordingApi(worker.api, done), git: oldGit, storeFor: refusing }, undefined).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AggregateError);
    const reasons = (error as AggregateError).errors.map((reason) => String(reason)).join('\n');
    expect(reasons).toMatch(/older than 2\.37/);
    // Only the store knows the key is unknown: the request reached it.
    expect(reasons).toMatch(/InvalidAccessKeyId|does not exist in our records/);
    expect([...done].sort()).toEqual(['GET /healthz', 'git --version', 'transport']);
  });

  it("the worker's warm-up logs failures instead of throwing: the store's refusal reaches the log", async () => {
    const lines: string[] = [];
    const refused = createWorker(loadConfig({ ...ossEnv(oss, { accessKeyId: 'LTAI-nobody', accessKeySecret: 'x' }), FERRY_WORK_DIR: join(dir, 'work') }), (line) => lines.push(line));
    await refused.warmUp(undefined);
    expect(lines.join('\n')).toMatch(/^warm-up: .*(InvalidAccessKeyId|STORAGE_FAILED|refused|403)/im);
  });

  it('POST /initialize answers while the warm-up still waits for an OSS endpoint that never answers', async () => {
    // An endpoint that accepts connections and never says a word: the fault cannot be had from the real store.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const connected = new Promise<void>((resolve) => silent.once('connection', () => resolve()));
    const worker = createWorker(loadConfig({ ...ossEnv(oss, KEY), FERRY_OSS_ENDPOINT: endpoint, FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    let settled = false;
    const warmUpTracked = (credentials: Credentials | undefined): Promise<void> => worker.warmUp(credentials).finally(() => (settled = true));
    const server = createRuntimeServer({ api: worker.api, runJob: worker.runJob, warmUp: warmUpTracked, dispatchSecret: undefined, httpApi: true, log: () => undefined });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/initialize`, { method: 'POST' });
      expect(response.status).toBe(200);
      // The warm-up's OSS read reached the endpoint and is still unanswered: the answer did not wait for it.
      await connected;
      expect(settled).toBe(false);
    } finally {
      server.closeAllConnections();
      server.close();
      silent.close();
    }
  });

  it('runs on POST /initialize with the credentials FC sends in x-fc-* headers', async () => {
    const calls: (Credentials | undefined)[] = [];
    const worker = createWorker(loadConfig({ FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    const server = createRuntimeServer({
      api: worker.api,
      runJob: worker.runJob,
      warmUp: async (credentials) => void calls.push(credentials),
      dispatchSecret: undefined,
      httpApi: true,
      log: () => undefined,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/initialize`, {
        method: 'POST',
        headers: { 'x-fc-access-key-id': 'STS.id', 'x-fc-access-key-secret': 'sts-secret', 'x-fc-security-token': 'token' },
      });
      expect(response.status).toBe(200);
      expect(calls).toEqual([{ accessKeyId: 'STS.id', accessKeySecret: 'sts-secret', securityToken: 'token' }]);
    } finally {
      server.close();
    }
  });
});
