/**
 * The NOTIFY client against a real node:http server on port 0 that plays the gateway's NOTIFY API:
 * it verifies every signature with our verifier and answers per device (200, 503-then-200, 404).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNotifier } from '../../../src/worker/notify/notifier.js';
import type { NotifierClock } from '../../../src/worker/notify/clock.js';
import { NonceCache, verifyRequest } from '../../../src/protocol/apigw-signature.js';

const creds = { appKey: 'worker-app', appSecret: 'worker-secret' };

interface Received {
  deviceId: string;
  message: { jobId: string; n: number; important?: boolean };
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
      if (status === 200) received.push({ deviceId, message: JSON.parse(body.toString('utf8')) });
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

/** Time that moves only when the test says: timers fire in order as `advance` passes them. */
class ManualClock implements NotifierClock {
  private current = 1_000_000;
  private timers: { at: number; fn: () => void }[] = [];
  now(): number {
    return this.current;
  }
  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.current + ms, fn };
    this.timers.push(timer);
    return () => void (this.timers = this.timers.filter((t) => t !== timer));
  }
  advance(ms: number): void {
    const target = this.current + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.current = due.at;
      due.fn();
    }
    this.current = target;
  }
}

/**
 * The real fetch, recording the clock's time at each call (the notifier's promise is about when it
 * sends), and `settled()`: resolves once every request made so far, and any it led to, is answered
 * and the notifier has acted on the answers.
 */
function trackedFetch(clock: NotifierClock) {
  const sentAt: number[] = [];
  const pending = new Set<Promise<unknown>>();
  const tracked: typeof fetch = (input, init) => {
    sentAt.push(clock.now());
    const answered = fetch(input, init).then(async (res) => new Response(await res.arrayBuffer(), res));
    const done = answered.then(
      () => undefined,
      () => undefined,
    );
    pending.add(done);
    void done.then(() => pending.delete(done));
    return answered;
  };
  async function settled(): Promise<void> {
    do {
      await Promise.all(pending);
      // A macrotask: every promise reaction the answers set off (the next send included) has run.
      await new Promise((resolve) => setImmediate(resolve));
    } while (pending.size > 0);
  }
  return { fetch: tracked, sentAt, settled };
}

describe('createNotifier', () => {
  it('throttles intermediates per job (latest wins) and never holds back or drops important ones', async () => {
    const logs: string[] = [];
    const clock = new ManualClock();
    const transport = trackedFetch(clock);
    const notifier = createNotifier({ url, ...creds, fetch: transport.fetch, clock, minIntervalMs: 100, log: (l) => logs.push(l) });
    // An update every 10 ms for 300 ms, each step settled before the next, so what is sent when
    // follows from the clock alone.
    const started = clock.now();
    for (let n = 0; n < 30; n++) {
      if (n > 0) clock.advance(10);
      notifier.send('dev-a', 'job-1', { jobId: 'job-1', n }, { important: false });
      await transport.settled();
    }
    notifier.send('dev-a', 'job-1', { jobId: 'job-1', n: 99, important: true }, { important: true });
    await notifier.flush();

    // The first update at once, then the newest one per 100 ms (n = 29, still waiting, is made stale
    // by the important message, which goes at once).
    expect(received.map((r) => r.message.n)).toEqual([0, 10, 20, 99]);
    expect(transport.sentAt.map((at) => at - started)).toEqual([0, 100, 200, 290]);
    expect(rejected).toEqual([]);
    expect(logs).toEqual([]);
  });

  it('sends the latest intermediate once its interval is over', async () => {
    const clock = new ManualClock();
    const transport = trackedFetch(clock);
    const notifier = createNotifier({ url, ...creds, fetch: transport.fetch, clock, minIntervalMs: 100, log: () => {} });
    for (const n of [1, 2, 3]) {
      notifier.send('dev-e', 'job-6', { jobId: 'job-6', n }, { important: false });
      await transport.settled();
    }
    expect(received.map((r) => r.message.n)).toEqual([1]);
    clock.advance(99);
    await transport.settled();
    expect(received.map((r) => r.message.n)).toEqual([1]);
    clock.advance(1);
    await notifier.flush();
    expect(received.map((r) => r.message.n)).toEqual([1, 3]);
  });

  it('sends phase changes at once, cutting short an intermediate\'s wait', async () => {
    // The clock never moves: an important message held back behind the spacing would never go.
    const clock = new ManualClock();
    const transport = trackedFetch(clock);
    const notifier = createNotifier({ url, ...creds, fetch: transport.fetch, clock, minIntervalMs: 100, log: () => {} });
    notifier.send('dev-d', 'job-4', { jobId: 'job-4', n: 1 }, { important: false });
    await transport.settled();
    notifier.send('dev-d', 'job-4', { jobId: 'job-4', n: 2 }, { important: false });
    await transport.settled();
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
    // The clock never moves: an intermediate spaced behind another job's send would never go.
    const clock = new ManualClock();
    const notifier = createNotifier({ url, ...creds, clock, minIntervalMs: 100, log: () => {} });
    for (const job of ['j1', 'j2', 'j3']) notifier.send('dev-c', job, { jobId: job, n: 1 }, { important: false });
    await notifier.flush();
    expect(received.map((r) => r.message.jobId).sort()).toEqual(['j1', 'j2', 'j3']);
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
