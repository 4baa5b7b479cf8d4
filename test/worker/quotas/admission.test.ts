import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../../src/worker/api/handler.js';
import { archiveObject } from '../../../src/worker/artifacts/archive.js';
import { loadConfig, type Config } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createFindJob, createSubmit } from '../../../src/worker/jobs/submit.js';
import { clientKeys, sourceAddress } from '../../../src/worker/quotas/client-keys.js';
import { Quotas } from '../../../src/worker/quotas/quotas.js';
import { SharedCounters } from '../../../src/worker/quotas/shared-counters.js';
import { eventToRequest, responseToResult } from '../../../src/worker/runtime/events.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ossEnv } from '../../helpers/oss-env.js';

// The quotas checked at POST /jobs, through the real API handler and submit, with counters in a real local
// OSS bucket (the ali-oss SDK) and the real git server. Clocks are injected: windows pass without waiting.

const KEY = { accessKeyId: 'LTAI-quotas', accessKeySecret: 'quotas-secret' };
const NOON = Date.UTC(2026, 11, 5, 12, 0, 10);
let git: GitServer;
let oss: OssServer;
let temp: string;
let base: Config;
let commit: string;
let bucketCount = 0;

beforeAll(async () => {
  git = await startGitServer({ root: await fixtureRoot() });
  temp = await mkdtemp(join(tmpdir(), 'ferry-quotas-'));
  const buckets = Array.from({ length: 12 }, (_, i) => `quotas-${i}`);
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets });
  base = loadConfig({ ...ossEnv(oss, KEY), FERRY_ALLOWED_HOSTS: git.host, FERRY_ALLOW_HTTP: '1', FERRY_WORK_DIR: join(temp, 'work') });
  commit = await gitRevParse(join(git.root, 'fixtures/basic.git'), 'HEAD');
});

afterAll(async () => {
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

class Clock {
  constructor(public now = NOON) {}
  read = (): number => this.now;
}

class RecordingDispatcher implements Dispatcher {
  readonly specs: JobSpec[] = [];
  async dispatch(spec: JobSpec): Promise<void> {
    this.specs.push(spec);
  }
}

interface Instance {
  store: ObjectStore;
  quotas: Quotas;
  api: ReturnType<typeof createApi>;
  dispatcher: RecordingDispatcher;
}

/** A bucket of its own per test, so no test sees another's counters. */
function freshBucket(): Config {
  const bucket = `quotas-${bucketCount++}`;
  return { ...base, oss: { ...base.oss, bucket } };
}

/** One worker instance's submit path: its own ali-oss client and counters, on the bucket `config` names. */
function instance(config: Config, clock: Clock, options: { pending?: () => number; name?: string } = {}): Instance {
  const store = createObjectStore(storageTarget(config.oss));
  const counters = new SharedCounters({ syncMs: 0, clock: clock.read, ...(options.name && { instance: options.name }) });
  const quotas = new Quotas({ limits: config.quotas, counters, workDir: config.workDir, pending: options.pending ?? (() => 0), clock: clock.read });
  const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: config.allowedHosts });
  const dispatcher = new RecordingDispatcher();
  const deps = { config, states: new JobStateStore(), dispatcher, notifier: undefined, storeFor: () => store, git: context, refs: new RefsCache({ git: context }), quotas, quotaSecret: 'test-secret', sharedAppKey: 'deployment-app' };
  const api = createApi({ submit: createSubmit(deps), findJob: createFindJob(deps), listRefs: async () => ({ refs: [] }) as never, load: () => ({ active: 0, pending: 0 }) });
  return { store, quotas, api, dispatcher };
}

function post(api: Instance['api'], body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
  return api(new Request('http://worker.invalid/jobs', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }));
}

const job = (deviceId = 'device-1'): Record<string, unknown> => ({ url: `${git.url}/fixtures/basic`, ref: commit, deviceId });
const from = (address: string): Record<string, string> => ({ 'x-forwarded-for': `203.0.113.99, ${address}` });

async function answer(response: Response): Promise<{ status: number; retryAfter: string | null; body: Record<string, unknown> }> {
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Record<string, unknown> };
}

/** Puts a finished archive of `commit` in the bucket, as a build would: submits then answer from the cache. */
async function cacheArchive(config: Config, store: ObjectStore, size: number): Promise<void> {
  const request = { repo: parseRepoUrl(`${git.url}/fixtures/basic`, config), ref: commit, commit, format: 'zip' as const };
  const keys = archiveObject.keys(request);
  await store.put(keys.object, Buffer.alloc(size));
  const manifest = { v: 1, repo: request.repo.canonical, commit, format: 'zip', filename: 'basic.zip', size, sha256: 'f'.repeat(64), createdAt: 1 };
  await store.put(keys.manifest, Buffer.from(JSON.stringify(manifest)));
}

describe('per-client rate (FERRY_RATE_LIMIT)', () => {
  it('answers 429 RATE_LIMITED with Retry-After past the limit, per address across devices, and recovers in the next minute', async () => {
    const clock = new Clock();
    const config = { ...freshBucket(), quotas: { ...base.quotas, ratePerMinute: 2 } };
    const { api, dispatcher } = instance(config, clock);
    expect((await post(api, job('phone'), from('198.51.100.7'))).status).toBe(202);
    // Another device from the same address still counts against the address.
    expect((await post(api, job('laptop'), from('198.51.100.7'))).status).toBe(202);
    const refused = await answer(await post(api, job('tablet'), from('198.51.100.7')));
    expect(refused).toMatchObject({ status: 429, retryAfter: '50', body: { code: 'RATE_LIMITED', retryAfter: 50 } });
    expect(refused.body.message).toMatch(/this address .*FERRY_RATE_LIMIT/i);
    expect(dispatcher.specs).toHaveLength(2);
    // Another address is its own client (its device is new too).
    expect((await post(api, job('desk'), from('198.51.100.8'))).status).toBe(202);

    clock.now += 60_000;
    expect((await post(api, job('tablet'), from('198.51.100.7'))).status).toBe(202);
  });

  it('counts one device across addresses, and an IPv6 client by its /64', async () => {
    const clock = new Clock();
    const config = { ...freshBucket(), quotas: { ...base.quotas, ratePerMinute: 1 } };
    const { api } = instance(config, clock);
    expect((await post(api, job('roamer'), from('198.51.100.1'))).status).toBe(202);
    expect((await answer(await post(api, job('roamer'), from('198.51.100.2')))).body).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/this device/i) });
    expect((await post(api, job('v6-a'), from('2001:db8:1:2::10'))).status).toBe(202);
    expect((await answer(await post(api, job('v6-b'), from('2001:db8:1:2:ffff::1')))).body).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringMatching(/this address/i) });
  });

  it('counts a client app key, but not the app key the deployment gives every client (its own)', async () => {
    const clock = new Clock();
    const config = { ...freshBucket(), quotas: { ...base.quotas, ratePerMinute: 1 } };
    const { api } = instance(config, clock);
    expect((await post(api, job('s1'), { ...from('198.51.100.31'), 'x-ca-key': 'deployment-app' })).status).toBe(202);
    expect((await post(api, job('s2'), { ...from('198.51.100.32'), 'x-ca-key': 'deployment-app' })).status).toBe(202);
    expect((await post(api, job('c1'), { ...from('198.51.100.33'), 'x-ca-key': 'customer-app' })).status).toBe(202);
    expect((await answer(await post(api, job('c2'), { ...from('198.51.100.34'), 'x-ca-key': 'customer-app' }))).body).toMatchObject({
      code: 'RATE_LIMITED',
      message: expect.stringMatching(/this app key/i),
    });
  });

  it('is one counter for two worker instances on one bucket', async () => {
    const clock = new Clock();
    const config = { ...freshBucket(), quotas: { ...base.quotas, ratePerMinute: 2 } };
    const a = instance(config, clock, { name: 'instance-a' });
    const b = instance(config, clock, { name: 'instance-b' });
    expect((await post(a.api, job('d1'), from('192.0.2.5'))).status).toBe(202);
    expect((await post(b.api, job('d2'), from('192.0.2.5'))).status).toBe(202);
    expect((await answer(await post(a.api, job('d3'), from('192.0.2.5')))).body).toMatchObject({ code: 'RATE_LIMITED' });
    expect((await answer(await post(b.api, job('d4'), from('192.0.2.5')))).body).toMatchObject({ code: 'RATE_LIMITED' });
    // Each instance wrote only its own shard of the counter.
    const listed = await a.store.list('quota/2026-12-05/');
    expect(listed.map((o) => o.key.split('/').at(-1)).filter((n) => n?.startsWith('instance-')).sort()).toEqual(
      expect.arrayContaining(['instance-a.json', 'instance-b.json']),
    );
  });
});

describe('per-client daily bytes (FERRY_CLIENT_DAILY_BYTES)', () => {
  it('counts cache hits as served, refuses with 429 until 00:00 UTC, then serves again', async () => {
    const clock = new Clock();
    const config = { ...freshBucket(), quotas: { ...base.quotas, clientDailyBytes: 1000 } };
    const one = instance(config, clock, { name: 'one' });
    await cacheArchive(config, one.store, 600);
    expect((await answer(await post(one.api, job(), from('192.0.2.9')))).body).toMatchObject({ status: 'done', cached: true, size: 600 });
    expect((await post(one.api, job(), from('192.0.2.9'))).status).toBe(200);
    // 1200 bytes served: over 1000. A second instance sees it in the bucket.
    const other = instance(config, clock, { name: 'two' });
    const refused = await answer(await post(other.api, job('other-device'), from('192.0.2.9')));
    expect(refused).toMatchObject({ status: 429, retryAfter: String(12 * 3600 - 10), body: { code: 'RATE_LIMITED' } });
    expect(refused.body.message).toMatch(/FERRY_CLIENT_DAILY_BYTES/);
    clock.now = Date.UTC(2026, 11, 6, 0, 0, 1);
    expect((await post(other.api, job('other-device'), from('192.0.2.9'))).status).toBe(200);
  });
});

describe('global daily budget (FERRY_DAILY_BUDGET_BYTES)', () => {
  it('answers every client 503 BUDGET_EXHAUSTED with Retry-After until the next UTC day', async () => {
    const clock = new Clock();
    const config = { ...freshBucket(), quotas: { ...base.quotas, dailyBudgetBytes: 500 } };
    const { api, store } = instance(config, clock);
    await cacheArchive(config, store, 600);
    expect((await post(api, job('first'), from('192.0.2.20'))).status).toBe(200);
    const refused = await answer(await post(api, job('second'), from('192.0.2.21')));
    expect(refused).toMatchObject({ status: 503, retryAfter: String(12 * 3600 - 10), body: { code: 'BUDGET_EXHAUSTED' } });
    expect(refused.body.message).toMatch(/FERRY_DAILY_BUDGET_BYTES/);
    clock.now = Date.UTC(2026, 11, 6, 0, 0, 0);
    expect((await post(api, job('second'), from('192.0.2.21'))).status).toBe(200);
  });
});

describe('pending jobs per instance (FERRY_MAX_PENDING)', () => {
  it('answers 503 BUSY with Retry-After when the queue is full, but still answers from the cache', async () => {
    const config = { ...freshBucket(), quotas: { ...base.quotas, maxPending: 3 } };
    const { api, store, dispatcher } = instance(config, new Clock(), { pending: () => 3 });
    const refused = await answer(await post(api, job()));
    expect(refused).toMatchObject({ status: 503, retryAfter: '10', body: { code: 'BUSY', retryAfter: 10 } });
    expect(refused.body.message).toMatch(/FERRY_MAX_PENDING/);
    expect(dispatcher.specs).toEqual([]);
    await cacheArchive(config, store, 10);
    expect((await post(api, job())).status).toBe(200);
  });

  it('travels to the gateway as an API-gateway result: the Retry-After header and the JSON field', async () => {
    const config = { ...freshBucket(), quotas: { ...base.quotas, maxPending: 0 } };
    const { api } = instance(config, new Clock());
    const event = { path: '/jobs', httpMethod: 'POST', headers: { 'content-type': 'application/json' }, queryParameters: {}, pathParameters: {}, body: JSON.stringify(job()), isBase64Encoded: false };
    const result = await responseToResult(await api(eventToRequest(event)));
    expect(result).toMatchObject({ statusCode: 503, headers: { 'retry-after': '10' } });
    expect(JSON.parse(result.body)).toMatchObject({ code: 'BUSY', retryAfter: 10 });
  });
});

describe('free disk (FERRY_MIN_FREE_BYTES)', () => {
  it('answers 507 INSUFFICIENT_STORAGE before fetching when the work dir has less free than the minimum', async () => {
    // No disk has 8 PiB free: the real statfs of the work dir trips it.
    const config = { ...freshBucket(), quotas: { ...base.quotas, minFreeBytes: 8 * 1024 ** 5 } };
    const { api, dispatcher } = instance(config, new Clock());
    const refused = await answer(await post(api, job()));
    expect(refused).toMatchObject({ status: 507, body: { code: 'INSUFFICIENT_STORAGE' } });
    expect(refused.body.message).toMatch(/FERRY_MIN_FREE_BYTES/);
    expect(dispatcher.specs).toEqual([]);
  });
});

describe('client keys', () => {
  it('takes the address the gateway added (the last of X-Forwarded-For), IPv6 by /64', () => {
    expect(sourceAddress('10.0.0.1, 198.51.100.7')).toBe('198.51.100.7');
    expect(sourceAddress('2001:db8:a:b:1:2:3:4')).toBe('2001:db8:a:b::/64');
    expect(sourceAddress('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceAddress('not-an-address')).toBeUndefined();
    expect(sourceAddress(null)).toBeUndefined();
  });

  it('names counters by HMAC, never by the address or key itself', () => {
    const keys = clientKeys({ appKey: 'app-123', deviceId: 'dev-1', forwardedFor: '198.51.100.7' }, 'secret');
    expect(keys.map((key) => key.kind)).toEqual(['app', 'dev', 'ip']);
    for (const key of keys) expect(key.id).toMatch(/^(app|dev|ip)-[0-9a-f]{32}$/);
    expect(JSON.stringify(keys)).not.toMatch(/198\.51|app-123/);
  });
});
