/**
 * The NOTIFY client against a real node:http server on port 0 that plays the gateway's NOTIFY API:
 * it verifies every signature with our verifier and answers per device (200, 503-then-200, 404).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNotifier } from '../../../src/worker/notify/notifier.js';
import { NonceCache, verifyRequest } from '../../../src/protocol/apigw-signature.js';

const creds = { appKey: 'worker-app', appSecret: 'worker-secret' };

interface Received {
  deviceId: string;
  message: { jobId: string; n: number; important?: boolean };
  at: number;
}

let server: Server;
let url: string;
let received: Received[] = [];
let attempts = new Map<string, number>();
let rejected: string[] = [];
/** Per device: the statuses to answer in turn; the last one repeats. */
let script = new Map<string, number[]>();
const nonces = new NonceCache();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const parsed = new URL(req.url ?? '/', 'http://x');
      const headers = req.headers as Record<string, string>;
      const check = verifyRequest(
        { method: req.method ?? '', path: parsed.pathname, query: Object.fromEntries(parsed.searchParams), headers, body },
        { lookupSecret: (key) => (key === creds.appKey ? creds.appSecret : undefined), nonces },
      );
      if (!check.ok) {
        rejected.push(check.errorMessage);
        res.writeHead(check.status, { 'x-ca-error-message': check.errorMessage }).end();
        return;
      }
      const deviceId = headers['x-ca-deviceid'] ?? '';
      const n = (attempts.get(deviceId) ?? 0) + 1;
      attempts.set(deviceId, n);
      const statuses = script.get(deviceId) ?? [200];
      const status = statuses[Math.min(n - 1, statuses.length - 1)] ?? 200;
      if (status === 200) received.push({ deviceId, message: JSON.parse(body.toString('utf8')), at: Date.now() });
      res.writeHead(status, status === 404 ? { 'x-ca-error-message': 'Device Not Found' } : {}).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify?stage=test`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  received = [];
  attempts = new Map();
  rejected = [];
  script = new Map();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('createNotifier', () => {
  it('throttles intermediates per job (latest wins) and never drops important ones', async () => {
    const logs: string[] = [];
    // Spacing is the notifier's promise about when it sends, so it is measured as it calls fetch,
    // not as the server receives (network jitter would count there).
    const sentAt: number[] = [];
    const timedFetch: typeof fetch = (input, init) => {
      sentAt.push(Date.now());
      return fetch(input, init);
    };
    const notifier = createNotifier({ url, ...creds, fetch: timedFetch, minIntervalMs: 100, log: (l) => logs.push(l) });
    const started = Date.now();
    for (let n = 0; n < 30; n++) {
      notifier.send('dev-a', 'job-1', { jobId: 'job-1', n }, { important: false });
      await sleep(10);
    }
    notifier.send('dev-a', 'job-1', { jobId: 'job-1', n: 99, important: true }, { important: true });
    const elapsed = Date.now() - started;
    await notifier.flush();

    const got = received.map((r) => r.message.n);
    expect(got.at(-1)).toBe(99);
    // ≥300 ms of updates at ≥100 ms spacing: a handful, not 30.
    expect(got.length).toBeGreaterThanOrEqual(3);
    expect(got.length).toBeLessThanOrEqual(Math.floor(elapsed / 100) + 2);
    expect([...got].sort((a, b) => a - b)).toEqual(got);
    // Intermediates are spaced; the important message at the end is not held back.
    expect(sentAt).toHaveLength(got.length);
    for (let i = 1; i < sentAt.length - 1; i++) expect(sentAt[i]! - sentAt[i - 1]!).toBeGreaterThanOrEqual(90);
    expect(rejected).toEqual([]);
    expect(logs).toEqual([]);
  });

  it('sends phase changes at once, cutting short an intermediate\'s wait', async () => {
    // With a 10-minute interval, holding the important message back would outlast the test's timeout.
    const notifier = createNotifier({ url, ...creds, minIntervalMs: 600_000, log: () => {} });
    notifier.send('dev-d', 'job-4', { jobId: 'job-4', n: 1 }, { important: false });
    await sleep(50);
    notifier.send('dev-d', 'job-4', { jobId: 'job-4', n: 2 }, { important: false });
    await sleep(50);
    for (const n of [3, 4, 5]) notifier.send('dev-d', 'job-4', { jobId: 'job-4', n, important: true }, { important: true });
    await notifier.flush();
    expect(received.map((r) => r.message.n)).toEqual([1, 3, 4, 5]);
  });

  it('keeps important messages in order and drops intermediates made stale by them', async () => {
    const notifier = createNotifier({ url, ...creds, minIntervalMs: 20, log: () => {} });
    for (let n = 0; n < 5; n++) {
      notifier.send('dev-b', 'job-2', { jobId: 'job-2', n: n * 10 + 1 }, { important: false });
      notifier.send('dev-b', 'job-2', { jobId: 'job-2', n: n * 10 + 2, important: true }, { important: true });
    }
    await notifier.flush();
    const got = received.map((r) => r.message.n);
    // The first intermediate went out at once; every later one was superseded by a phase change.
    expect(got).toEqual([1, 2, 12, 22, 32, 42]);
  });

  it('runs jobs independently: one job does not throttle another', async () => {
    // With a 10-minute interval, any spacing across jobs would outlast the test's timeout.
    const notifier = createNotifier({ url, ...creds, minIntervalMs: 600_000, log: () => {} });
    for (const job of ['j1', 'j2', 'j3']) notifier.send('dev-c', job, { jobId: job, n: 1 }, { important: true });
    await notifier.flush();
    expect(received).toHaveLength(3);
  });

  it('retries 503 with backoff, then succeeds', async () => {
    script.set('flaky', [503, 503, 200]);
    const logs: string[] = [];
    const notifier = createNotifier({ url, ...creds, backoffMs: 10, log: (l) => logs.push(l) });
    notifier.send('flaky', 'job-3', { jobId: 'job-3', n: 1 }, { important: true });
    await notifier.flush();
    expect(attempts.get('flaky')).toBe(3);
    expect(received.map((r) => r.message.n)).toEqual([1]);
    expect(rejected).toEqual([]); // every retry was re-signed with a fresh nonce
    expect(logs).toEqual([]);
  });

  it('does not retry 404 (device gone), and flush still resolves', async () => {
    script.set('gone', [404]);
    const logs: string[] = [];
    const notifier = createNotifier({ url, ...creds, backoffMs: 10, log: (l) => logs.push(l) });
    notifier.send('gone', 'job-4', { jobId: 'job-4', n: 1 }, { important: true });
    await notifier.flush();
    expect(attempts.get('gone')).toBe(1);
    expect(logs.join('\n')).toMatch(/device gone is not connected \(404 Device Not Found\)/);
  });

  it('gives up after the configured retries on network errors without throwing', async () => {
    let calls = 0;
    const failingFetch = (async () => {
      calls++;
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const logs: string[] = [];
    const notifier = createNotifier({ url, ...creds, fetch: failingFetch, retries: 2, backoffMs: 5, log: (l) => logs.push(l) });
    expect(() => notifier.send('dev-d', 'job-5', { jobId: 'job-5', n: 1 }, { important: true })).not.toThrow();
    await expect(notifier.flush()).resolves.toBeUndefined();
    expect(calls).toBe(3);
    expect(logs.join('\n')).toMatch(/giving up after 3 attempts \(TypeError: fetch failed\)/);
  });

  it('signs every query parameter of the NOTIFY URL, even one named like an Object member', async () => {
    const notifier = createNotifier({ url: `${url}&constructor=x&toString=y`, ...creds, log: () => undefined });
    notifier.send('dev-q', 'job-q', { jobId: 'job-q', n: 1 }, { important: true });
    await notifier.flush();
    expect(rejected).toEqual([]);
    expect(received.map((r) => r.deviceId)).toEqual(['dev-q']);
  });

  it('rejects bad options at construction', () => {
    expect(() => createNotifier({ url: 'not a url', ...creds })).toThrow();
    expect(() => createNotifier({ url, ...creds, minIntervalMs: -1 })).toThrow(/minIntervalMs/);
  });
});
