import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type OssCredentials } from '../../../src/worker/config.js';
import { FerryError } from '../../../src/protocol/errors.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { createRuntimeServer } from '../../../src/worker/runtime/server.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { warmUp } from '../../../src/worker/runtime/warm-up.js';
import { createWorker } from '../../../src/worker/worker.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/client.js';
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
function recordingStore(credentialsSeen: (OssCredentials | undefined)[], reads: string[]) {
  const config = loadConfig(ossEnv(oss)); // no key in the environment: credentials come per invocation
  return (credentials: OssCredentials | undefined): ObjectStore => {
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

describe('warm-up', () => {
  it('reads one absent key from OSS with the credentials it is given', async () => {
    const seen: (OssCredentials | undefined)[] = [];
    const reads: string[] = [];
    const worker = createWorker(loadConfig({ ...ossEnv(oss), FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    await warmUp({ api: worker.api, git: createGitContext({ allowHttp: false, timeoutMs: 10_000 }), storeFor: recordingStore(seen, reads) }, KEY);
    expect(seen).toEqual([KEY]);
    // A real round trip to the store: a wrong key would have made getText throw (403), not answer.
    expect(reads).toEqual(['jobs/.warm-up → absent']);
  });

  it('is a no-op for storage when none is configured; the worker logs failures instead of throwing', async () => {
    const worker = createWorker(loadConfig({ FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    const unconfigured = (): ObjectStore => {
      throw new FerryError('STORAGE_NOT_CONFIGURED', 'no storage');
    };
    await expect(warmUp({ api: worker.api, git: createGitContext({ allowHttp: false, timeoutMs: 10_000 }), storeFor: unconfigured }, undefined)).resolves.toBeUndefined();
    // Broken storage (a key the store refuses) is logged, not thrown.
    const lines: string[] = [];
    const refused = createWorker(loadConfig({ ...ossEnv(oss, { accessKeyId: 'LTAI-nobody', accessKeySecret: 'x' }), FERRY_WORK_DIR: join(dir, 'work') }), (line) => lines.push(line));
    await expect(refused.warmUp(undefined)).resolves.toBeUndefined();
    expect(lines.join('\n')).toMatch(/^warm-up: .*(InvalidAccessKeyId|STORAGE_FAILED|refused|403)/im);
  });

  it('POST /initialize answers within seconds even when OSS never answers (FC allows the initializer 10 s)', async () => {
    // An endpoint that accepts connections and never says a word: the fault cannot be had from the real store.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const worker = createWorker(loadConfig({ ...ossEnv(oss, KEY), FERRY_OSS_ENDPOINT: endpoint, FERRY_WORK_DIR: join(dir, 'work') }), () => undefined);
    const server = createRuntimeServer({ api: worker.api, runJob: worker.runJob, warmUp: worker.warmUp, dispatchSecret: undefined, httpApi: true, log: () => undefined });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/initialize`, { method: 'POST' });
      expect(response.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      server.closeAllConnections();
      server.close();
      silent.close();
    }
  });

  it('runs on POST /initialize with the credentials FC sends in x-fc-* headers', async () => {
    const calls: (OssCredentials | undefined)[] = [];
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
