/**
 * The API Gateway emulator over real sockets: a `ws` client speaking raw frames, plain HTTP via
 * fetch/node:http, and the real NOTIFY client. The backend is a small fake object — that is fine
 * here: to the gateway the backend is just the `GatewayBackend` interface (FC in production).
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway, type Gateway, type GatewayApi, type GatewayOptions } from '../../src/local/gateway/index.js';
import { createNotifier } from '../../src/worker/notify/notifier.js';
import { signRequest, type AppCredentials } from '../../src/protocol/apigw-signature.js';
import { waitFor } from '../helpers/wait.js';

const clientApp = { appKey: 'client-app', appSecret: 'client-secret' };
const workerApp = { appKey: 'worker-app', appSecret: 'worker-secret' };

const apis: GatewayApi[] = [
  { method: 'POST', path: '/register', auth: 'APP', type: 'REGISTER' },
  { method: 'POST', path: '/unregister', auth: 'APP', type: 'UNREGISTER' },
  { method: 'POST', path: '/notify', auth: 'APP', type: 'NOTIFY' },
  { method: 'POST', path: '/jobs', auth: 'ANONYMOUS' },
  { method: 'GET', path: '/jobs/[id]', auth: 'ANONYMOUS' },
  { method: 'GET', path: '/private', auth: 'APP' },
  { method: 'POST', path: '/boom', auth: 'ANONYMOUS' },
  { method: 'GET', path: '/binary', auth: 'ANONYMOUS' },
];

/** Fake backend: records events, answers by path. */
const events: ApiGatewayEvent[] = [];
const backend = {
  async invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
    events.push(event);
    const json = (statusCode: number, body: unknown): ApiGatewayResult => ({
      isBase64Encoded: false,
      statusCode,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (event.path === '/boom') throw new Error('backend exploded');
    if (event.path === '/binary') return { isBase64Encoded: true, statusCode: 200, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 1, 255]).toString('base64') };
    if (event.path === '/register') return event.headers['x-ca-deviceid']?.startsWith('deny') ? json(403, { code: 'UNAUTHORIZED' }) : json(200, { ok: true });
    if (event.path === '/unregister') return json(200, { ok: true });
    if (event.path === '/jobs') return json(202, { id: 'job-1', echo: event.body });
    return json(200, { id: event.pathParameters.id });
  },
};

/** A raw-frame websocket client that queues what it receives. */
class RawClient {
  readonly received: string[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(data.toString());
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
  }

  static async open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url);
    const client = new RawClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  send(text: string | Buffer): void {
    this.ws.send(text);
  }

  /** The next received frame matching `match`, removed from the queue. */
  async next(match: (frame: string) => boolean = () => true, timeoutMs = 2000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.received.findIndex(match);
      if (i >= 0) return this.received.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame; received: ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends an API frame and returns the response frame with the same x-ca-seq. */
  async call(frame: string, seq: string): Promise<{ status: number; header: Record<string, string>; body: string }> {
    this.send(frame);
    const text = await this.next((f) => f.startsWith('{') && JSON.parse(f).header?.['x-ca-seq'] === seq);
    return JSON.parse(text);
  }

  close(): void {
    this.ws.close();
  }
}

function apiFrame(
  method: string,
  path: string,
  opts: { seq: string; creds?: AppCredentials; query?: Record<string, string>; headers?: Record<string, string>; body?: string },
): string {
  const base = { 'x-ca-seq': opts.seq, ...(opts.headers ?? {}) };
  const headers = opts.creds
    ? signRequest({ method, path, query: opts.query ?? {}, headers: base, body: opts.body }, opts.creds)
    : base;
  return JSON.stringify({
    method,
    host: 'gateway.test',
    path,
    querys: opts.query ?? {},
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    isBase64: 0,
    body: opts.body ?? '',
  });
}

async function registered(gw: Gateway, deviceId: string): Promise<RawClient> {
  const client = await RawClient.open(gw.wsUrl);
  client.send(`RG#${deviceId}`);
  expect(await client.next()).toMatch(/^RO#/);
  const res = await client.call(apiFrame('POST', '/register', { seq: 'reg', creds: clientApp, headers: { 'content-type': 'application/json' }, body: '{}' }), 'reg');
  expect(res.status).toBe(200);
  return client;
}

async function notifyHttp(gw: Gateway, deviceId: string, body: string, creds: AppCredentials = workerApp): Promise<Response> {
  const headers = signRequest({ method: 'POST', path: '/notify', headers: { 'content-type': 'application/json', 'x-ca-deviceid': deviceId }, body }, creds);
  return fetch(`${gw.url}/notify`, { method: 'POST', headers, body });
}

function rawGet(gw: Gateway, path: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: gw.port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

const start = (extra: Partial<GatewayOptions> = {}) =>
  startGateway({ apps: [clientApp, workerApp], apis, backend, log: () => {}, ...extra });

let root: string;
let gw: Gateway;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'ferry-gw-'));
  await mkdir(join(root, 'web', 'sub'), { recursive: true });
  await writeFile(join(root, 'web', 'index.html'), '<!doctype html><title>ferry</title>');
  await writeFile(join(root, 'web', 'app.js'), 'console.log("ferry")');
  await writeFile(join(root, 'web', 'sub', 'index.html'), 'sub page');
  await writeFile(join(root, 'secret.txt'), 'TOP SECRET');
  gw = await start({ staticDir: join(root, 'web'), maxBodyBytes: 64 * 1024 });
});
afterAll(async () => {
  await gw.close();
  await rm(root, { recursive: true, force: true });
});
beforeEach(() => {
  events.length = 0;
});

describe('websocket commands', () => {
  it('RG → RO#credential#keepAlive, H1 → HO#credential', async () => {
    const client = await RawClient.open(gw.wsUrl);
    client.send('RG#dev-1@client-app');
    const ro = await client.next();
    const [, credential, keepAlive] = /^RO#([^#]+)#(\d+)$/.exec(ro) ?? [];
    expect(credential).toBeTruthy();
    expect(keepAlive).toBe('25000');
    client.send('H1');
    expect(await client.next()).toBe(`HO#${credential}`);
    // RG again with the same id is idempotent; with another id it is refused.
    client.send('RG#dev-1@client-app');
    expect(await client.next()).toMatch(/^RO#/);
    client.send('RG#other');
    expect(await client.next()).toMatch(/^RF#/);
    client.close();
  });

  it('refuses malformed device ids and a device id in use, then frees it on close', async () => {
    const a = await RawClient.open(gw.wsUrl);
    for (const bad of ['RG#', 'RG#has space', `RG#${'x'.repeat(129)}`, 'RG#semi;colon']) {
      a.send(bad);
      expect(await a.next()).toMatch(/^RF#Invalid DeviceId/);
    }
    a.send('RG#shared');
    expect(await a.next()).toMatch(/^RO#/);
    const b = await RawClient.open(gw.wsUrl);
    b.send('RG#shared');
    expect(await b.next()).toBe('RF#Device Id In Use');
    a.close();
    await a.closed;
    await waitFor(() => gw.connections() === 1);
    b.send('RG#shared');
    expect(await b.next()).toMatch(/^RO#/);
    b.close();
  });

  it('answers API frames with the x-ca-seq echoed and forwards them as API-gateway events', async () => {
    const client = await RawClient.open(gw.wsUrl);
    const res = await client.call(
      apiFrame('POST', '/jobs', { seq: '41', query: { a: '1' }, headers: { 'content-type': 'application/json' }, body: '{"url":"https://github.com/a/b"}' }),
      '41',
    );
    expect(res.status).toBe(202);
    expect(res.header['x-ca-seq']).toBe('41');
    expect(res.header['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ id: 'job-1', echo: '{"url":"https://github.com/a/b"}' });
    expect(events[0]).toMatchObject({
      path: '/jobs',
      httpMethod: 'POST',
      queryParameters: { a: '1' },
      pathParameters: {},
      body: '{"url":"https://github.com/a/b"}',
      isBase64Encoded: false,
    });

    const get = await client.call(apiFrame('GET', '/jobs/abc%20d?x=2', { seq: '42' }), '42');
    expect(JSON.parse(get.body)).toEqual({ id: 'abc d' });
    expect(events[1]).toMatchObject({ path: '/jobs/abc%20d', pathParameters: { id: 'abc d' }, queryParameters: { x: '2' } });

    const binary = JSON.parse(await (client.send(apiFrame('GET', '/binary', { seq: '43' })), client.next()));
    expect(binary).toMatchObject({ status: 200, isBase64: 1, body: Buffer.from([0, 1, 255]).toString('base64') });

    const unknown = await client.call(apiFrame('GET', '/nope', { seq: '44' }), '44');
    expect(unknown).toMatchObject({ status: 404, header: { 'x-ca-error-message': 'Invalid Url' } });
    client.close();
  });

  it('forwards REGISTER with the connection device id (not a client-supplied one) and binds the device', async () => {
    const client = await RawClient.open(gw.wsUrl);
    // REGISTER before RG has no device to bind.
    const early = await client.call(apiFrame('POST', '/register', { seq: '1', creds: clientApp, body: '' }), '1');
    expect(early.status).toBe(400);

    client.send('RG#dev-reg');
    await client.next();
    const res = await client.call(
      apiFrame('POST', '/register', { seq: '2', creds: clientApp, headers: { 'x-ca-deviceid': 'spoofed', 'x-ca-websocket_api_type': 'REGISTER' }, body: '' }),
      '2',
    );
    expect(res.status).toBe(200);
    expect(events.at(-1)?.headers['x-ca-deviceid']).toBe('dev-reg');

    expect((await notifyHttp(gw, 'dev-reg', '{"v":1}')).status).toBe(200);
    expect(await client.next()).toBe('NF#{"v":1}');
    client.close();
  });

  it('does not bind a device whose REGISTER the backend refused', async () => {
    const client = await RawClient.open(gw.wsUrl);
    client.send('RG#deny-me');
    await client.next();
    expect((await client.call(apiFrame('POST', '/register', { seq: '1', creds: clientApp, body: '' }), '1')).status).toBe(403);
    expect((await notifyHttp(gw, 'deny-me', '{}')).status).toBe(404);
    client.close();
  });
});

describe('NOTIFY', () => {
  it('delivers NF#<body> from the real notifier, and the client acks with NO', async () => {
    const client = await registered(gw, 'dev-n');
    const notifier = createNotifier({ url: `${gw.url}/notify`, ...workerApp, minIntervalMs: 10, log: (l) => expect.fail(l) });
    notifier.send('dev-n', 'job-9', { v: 1, type: 'progress', jobId: 'job-9', phase: 'fetching' }, { important: true });
    notifier.send('dev-n', 'job-9', { v: 1, type: 'done', jobId: 'job-9' }, { important: true });
    await notifier.flush();
    expect(JSON.parse((await client.next()).slice(3))).toMatchObject({ type: 'progress', phase: 'fetching' });
    client.send('NO');
    expect(JSON.parse((await client.next()).slice(3))).toMatchObject({ type: 'done' });
    client.send('NO');
    client.send('H1');
    expect(await client.next()).toMatch(/^HO#/);
    client.close();
  });

  it('answers 404 for unknown, unregistered and unregistered-again devices', async () => {
    const unknown = await notifyHttp(gw, 'nobody', '{}');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-ca-error-message')).toBe('Device Not Found');

    const onlyRg = await RawClient.open(gw.wsUrl);
    onlyRg.send('RG#only-rg');
    await onlyRg.next();
    expect((await notifyHttp(gw, 'only-rg', '{}')).status).toBe(404);
    onlyRg.close();

    const client = await registered(gw, 'dev-u');
    expect((await client.call(apiFrame('POST', '/unregister', { seq: 'u', creds: clientApp, body: '' }), 'u')).status).toBe(200);
    expect((await notifyHttp(gw, 'dev-u', '{}')).status).toBe(404);
    client.close();
  });

  it('requires a valid signature and a device id', async () => {
    const client = await registered(gw, 'dev-s');
    const bad = await notifyHttp(gw, 'dev-s', '{}', { ...workerApp, appSecret: 'wrong' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('x-ca-error-message')).toMatch(/^Invalid Signature, Server StringToSign:/);
    const unsigned = await fetch(`${gw.url}/notify`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ca-deviceid': 'dev-s' }, body: '{}' });
    expect(unsigned.headers.get('x-ca-error-message')).toBe('Invalid AppKey');
    const headers = signRequest({ method: 'POST', path: '/notify', headers: { 'content-type': 'application/json' }, body: '{}' }, workerApp);
    expect((await fetch(`${gw.url}/notify`, { method: 'POST', headers, body: '{}' })).status).toBe(400);
    expect(client.received.filter((f) => f.startsWith('NF#'))).toEqual([]);
    client.close();
  });
});

describe('signatures on API frames', () => {
  it('rejects a bad signature on APP and ANONYMOUS APIs with X-Ca-Error-Message, and a missing one on APP APIs', async () => {
    const client = await RawClient.open(gw.wsUrl);
    const wrong = { ...clientApp, appSecret: 'nope' };
    const app = await client.call(apiFrame('GET', '/private', { seq: '1', creds: wrong }), '1');
    expect(app.status).toBe(400);
    expect(app.header['x-ca-error-message']).toMatch(/^Invalid Signature/);
    const anon = await client.call(apiFrame('POST', '/jobs', { seq: '2', creds: wrong, body: '{}' }), '2');
    expect(anon.header['x-ca-error-message']).toMatch(/^Invalid Signature/);
    const missing = await client.call(apiFrame('GET', '/private', { seq: '3' }), '3');
    expect(missing).toMatchObject({ status: 400, header: { 'x-ca-error-message': 'Invalid AppKey' } });
    const good = await client.call(apiFrame('GET', '/private', { seq: '4', creds: clientApp }), '4');
    expect(good.status).toBe(200);
    // A replayed frame (same nonce) is refused.
    const frame = apiFrame('GET', '/private', { seq: '5', creds: clientApp });
    expect((await client.call(frame, '5')).status).toBe(200);
    expect((await client.call(frame, '5')).header['x-ca-error-message']).toBe('Nonce Used');
    expect(events.map((e) => e.path)).toEqual(['/private', '/private']);
    client.close();
  });

  it('verifies query names that are also Object.prototype names, in frames and over HTTP', async () => {
    // Built with entries so `__proto__` is an own key, as a client's parsed query would hold it.
    const query = Object.fromEntries([['constructor', 'x'], ['toString', '1'], ['__proto__', 'p'], ['hasOwnProperty', '']]);
    const client = await RawClient.open(gw.wsUrl);
    const framed = await client.call(apiFrame('GET', '/private', { seq: 'proto', creds: clientApp, query }), 'proto');
    expect(framed.header['x-ca-error-message']).toBeUndefined();
    expect(framed.status).toBe(200);
    expect(Object.entries(events.at(-1)!.queryParameters)).toEqual(Object.entries(query));
    client.close();

    const headers = signRequest({ method: 'GET', path: '/private', query, headers: {} }, clientApp);
    const res = await fetch(`${gw.url}/private?constructor=x&toString=1&__proto__=p&hasOwnProperty&constructor=second`, { headers });
    expect(res.headers.get('x-ca-error-message')).toBeNull();
    expect(res.status).toBe(200);
    expect(Object.entries(events.at(-1)!.queryParameters)).toEqual(Object.entries(query));
  });
});

describe('malformed input', () => {
  it('answers bad frames with errors and keeps the connection usable', async () => {
    const client = await RawClient.open(gw.wsUrl);
    const cases: [string | Buffer, RegExp][] = [
      ['hello', /^Unknown frame/],
      ['{not json', /^Invalid Request Body/],
      ['[]', /^Unknown frame/],
      ['{"method":"GET"}', /^Invalid Request Path/],
      ['{"path":"/jobs/1"}', /^Invalid HttpMethod/],
      ['{"method":"GET","path":"/jobs/1","headers":{"x":[{}]}}', /^Invalid Header/],
      ['{"method":"POST","path":"/jobs","isBase64":1,"body":"***"}', /^Invalid Body/],
      ['{"method":"GET","path":"/jobs/1","querys":[1]}', /^Invalid Request Uri/],
      [Buffer.from([1, 2, 3]), /^Unsupported frame/],
    ];
    for (const [frame, message] of cases) {
      client.send(frame);
      const res = JSON.parse(await client.next());
      expect(res.status).toBe(400);
      expect(res.header['x-ca-error-message']).toMatch(message);
    }
    client.send('{"method":"GET","headers":{"x-ca-seq":["77"]}}');
    expect(JSON.parse(await client.next()).header['x-ca-seq']).toBe('77');
    client.send('H1');
    expect(await client.next()).toMatch(/^HO#/);
    client.close();
  });

  it('closes only the connection that sends a huge frame', async () => {
    const bystander = await RawClient.open(gw.wsUrl);
    const flooder = await RawClient.open(gw.wsUrl);
    flooder.send('x'.repeat(200 * 1024));
    expect((await flooder.closed).code).toBe(1009);
    bystander.send('H1');
    expect(await bystander.next()).toMatch(/^HO#/);
    bystander.close();
  });
});

describe('connection limits', () => {
  // Clients here beat every 100 ms, half the keep-alive and well under the message limit, so only
  // the connection a test means to close is closed.
  const keepAliveMs = 200;
  const beatMs = 100;
  let limited: Gateway;
  beforeAll(async () => {
    limited = await start({ keepAliveMs, maxMessagesPerSecond: 20 });
  });
  afterAll(() => limited.close());

  it('closes a connection that misses 3 heartbeats, keeps one that beats', async () => {
    // The beating connection is the older one: without its beats the gateway would close it first.
    const beating = await RawClient.open(limited.wsUrl);
    let beats = 0;
    const beat = (): void => {
      beating.send('H1');
      beats++;
    };
    const timer = setInterval(beat, beatMs);
    try {
      const silent = await RawClient.open(limited.wsUrl);
      silent.send('RG#silent');
      expect(await silent.next()).toMatch(new RegExp(`#${keepAliveMs}$`));
      expect(await silent.closed).toEqual({ code: 1001, reason: 'heartbeat missed' });
      clearInterval(timer);
      // One more beat after the silent connection was closed, and every beat is answered: the
      // beating connection is still open, past the deadline it would have had without them.
      beat();
      for (let answered = 0; answered < beats; answered++) expect(await beating.next((frame) => frame.startsWith('HO#'))).toMatch(/^HO#/);
      expect(beating.ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      clearInterval(timer);
      beating.close();
    }
  });

  it('sends OS and closes a connection that floods', async () => {
    const client = await RawClient.open(limited.wsUrl);
    for (let i = 0; i < 30; i++) client.send('NO');
    expect(await client.next((f) => f === 'OS')).toBe('OS');
    expect((await client.closed).code).toBe(1008);
  });

  it('sends CR and closes at the end of the connection lifetime', async () => {
    // Its own gateway, so the lifetime cuts no other test's connection; longer than 3 × keep-alive,
    // so the connection outlives the heartbeat check only because it beats.
    const lifetime = await start({ keepAliveMs, maxMessagesPerSecond: 20, maxConnectionLifetimeMs: 1000 });
    const client = await RawClient.open(lifetime.wsUrl);
    const timer = setInterval(() => client.send('H1'), beatMs);
    try {
      expect(await client.next((f) => f === 'CR', 5000)).toBe('CR');
      expect((await client.closed).code).toBe(1000);
      await waitFor(() => lifetime.connections() === 0);
    } finally {
      clearInterval(timer);
      await lifetime.close();
    }
  });
});

describe('HTTP', () => {
  it('serves the same APIs over plain HTTP', async () => {
    const res = await fetch(`${gw.url}/jobs?ref=main`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"url":"x"}' });
    expect(res.status).toBe(202);
    expect(res.headers.get('x-ca-request-id')).toBeTruthy();
    expect(events.at(-1)).toMatchObject({ httpMethod: 'POST', queryParameters: { ref: 'main' }, body: '{"url":"x"}', isBase64Encoded: false });

    // ferry's APIs take JSON; anything else over HTTP is refused before the backend (guard.ts).
    const binary = await fetch(`${gw.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from([0, 200, 255]) });
    expect(binary.status).toBe(415);

    const path = '/private';
    expect((await fetch(gw.url + path)).headers.get('x-ca-error-message')).toBe('Invalid AppKey');
    const signed = await fetch(gw.url + path, { headers: signRequest({ method: 'GET', path, headers: {} }, clientApp) });
    expect(signed.status).toBe(200);

    const boom = await fetch(`${gw.url}/boom`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(boom.status).toBe(502);
    expect(boom.headers.get('x-ca-error-message')).toBe('Failed To Invoke Backend Service');

    const reg = await fetch(`${gw.url}/register`, { method: 'POST', headers: signRequest({ method: 'POST', path: '/register', headers: { 'content-type': 'application/json' }, body: '' }, clientApp), body: '' });
    expect(reg.status).toBe(400);

    const tooBig = await fetch(`${gw.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(100 * 1024) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.headers.get('x-ca-error-message')).toBe('Request body too Large');
  });

  it('rate-limits ANONYMOUS APIs per client IP when configured', async () => {
    const throttled = await start({ anonymousRateLimit: { perMinute: 3 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await fetch(`${throttled.url}/jobs/x`)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const res = await fetch(`${throttled.url}/jobs/x`);
      expect(res.headers.get('x-ca-error-message')).toBe('Throttled by API Flow Control');
      // APP APIs are not counted against the anonymous budget.
      expect((await fetch(`${throttled.url}/private`, { headers: signRequest({ method: 'GET', path: '/private', headers: {} }, clientApp) })).status).toBe(200);
    } finally {
      await throttled.close();
    }
  });

  it('serves static files with content types and refuses traversal', async () => {
    expect(await rawGet(gw, '/')).toMatchObject({ status: 200, type: 'text/html; charset=utf-8', body: '<!doctype html><title>ferry</title>' });
    expect(await rawGet(gw, '/app.js')).toMatchObject({ status: 200, type: 'text/javascript; charset=utf-8' });
    expect(await rawGet(gw, '/sub/')).toMatchObject({ status: 200, body: 'sub page' });
    expect((await rawGet(gw, '/missing.css')).status).toBe(404);
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/sub/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%00']) {
      const res = await rawGet(gw, path);
      expect(res.status, path).toBeGreaterThanOrEqual(400);
      expect(res.body).not.toContain('TOP SECRET');
    }
    // API routes win over static files.
    expect(JSON.parse((await rawGet(gw, '/jobs/abc')).body)).toEqual({ id: 'abc' });
  });

  it('closes a static file whose client hung up mid-way, and keeps serving', async () => {
    const big = join(root, 'web', 'big.bin');
    await writeFile(big, Buffer.alloc(32 * 1024 * 1024));
    const bigReal = await realpath(big);
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: gw.port, path: '/big.bin' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
    // Linux shows which files this process holds open; elsewhere the second request is the whole check.
    if (process.platform === 'linux') await waitFor(() => !openFiles().includes(bigReal));
    expect(await rawGet(gw, '/')).toMatchObject({ status: 200, body: '<!doctype html><title>ferry</title>' });
  });
});

describe('lifecycle', () => {
  it('counts connections and closes them on close()', async () => {
    const own = await start();
    const a = await RawClient.open(own.wsUrl);
    await RawClient.open(own.wsUrl);
    await waitFor(() => own.connections() === 2);
    await own.close();
    await a.closed;
    await expect(fetch(own.url)).rejects.toThrow();
  });
});

function openFiles(): string[] {
  return readdirSync('/proc/self/fd').map((fd) => {
    try {
      return readlinkSync(join('/proc/self/fd', fd));
    } catch {
      return '';
    }
  });
}
