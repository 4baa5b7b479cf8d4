/**
 * What a web page can make a browser send to a loopback gateway: a cross-site form post (no preflight), a
 * request from a name rebound to 127.0.0.1 (a foreign Host), a foreign Origin. Real HTTP over node:http (fetch
 * would not let a test set Host) and real websockets. The backend is a small fake: only the gateway is tested.
 */
import { request, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway, type Gateway, type GatewayApi } from '../../src/local/gateway/index.js';

const apis: GatewayApi[] = [
  { method: 'POST', path: '/jobs', auth: 'ANONYMOUS' },
  { method: 'GET', path: '/jobs/[id]', auth: 'ANONYMOUS' },
];

const events: ApiGatewayEvent[] = [];
const backend = {
  async invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
    events.push(event);
    return { isBase64Encoded: false, statusCode: event.httpMethod === 'POST' ? 202 : 200, headers: { 'content-type': 'application/json' }, body: '{"jobId":"j"}' };
  },
};

let gw: Gateway;
let named: Gateway;
/** A gateway the page hosted on another site names (its meta), with that site's origin allowed. */
let hosted: Gateway;
const SITE = 'https://site.example.org';

beforeAll(async () => {
  gw = await startGateway({ apps: [], apis, backend, log: () => {} });
  named = await startGateway({ apps: [], apis, backend, publicHost: 'ferry.example.net', log: () => {} });
  hosted = await startGateway({ apps: [], apis, backend, allowedOrigins: [SITE], log: () => {} });
});

afterAll(async () => {
  await gw?.close();
  await named?.close();
  await hosted?.close();
});

beforeEach(() => {
  events.length = 0;
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function send(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const JOB = JSON.stringify({ url: 'https://github.com/a/b' });
const authority = (g: Gateway): string => new URL(g.url).host;

describe('gateway: content type of POST bodies', () => {
  it.each([
    ['text/plain', 'a cross-site form with enctype text/plain'],
    ['application/x-www-form-urlencoded', 'an ordinary form'],
    ['multipart/form-data; boundary=x', 'a multipart form'],
  ])('refuses %s (%s) with 415 and never calls the backend', async (type) => {
    const answer = await send(gw.url, 'POST', '/jobs', { 'content-type': type }, JOB);
    expect(answer.status).toBe(415);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/json') });
    expect(events).toEqual([]);
  });

  it('refuses a body without a content type', async () => {
    expect((await send(gw.url, 'POST', '/jobs', {}, JOB)).status).toBe(415);
  });

  it('takes application/json, with or without a charset', async () => {
    expect((await send(gw.url, 'POST', '/jobs', { 'content-type': 'application/json' }, JOB)).status).toBe(202);
    expect((await send(gw.url, 'POST', '/jobs', { 'content-type': 'Application/JSON; charset=utf-8' }, JOB)).status).toBe(202);
    expect(events).toHaveLength(2);
  });
});

describe('gateway: Host header (DNS rebinding)', () => {
  it('refuses a name it does not serve with 421, for reads and writes alike', async () => {
    const port = new URL(gw.url).port;
    const read = await send(gw.url, 'GET', '/jobs/j', { host: `rebind.example.com:${port}` });
    expect(read.status).toBe(421);
    expect(JSON.parse(read.body)).toMatchObject({ code: 'HOST_NOT_SERVED', message: expect.stringContaining('rebind.example.com') });
    const write = await send(gw.url, 'POST', '/jobs', { host: `rebind.example.com:${port}`, 'content-type': 'application/json' }, JOB);
    expect(write.status).toBe(421);
    expect(events).toEqual([]);
  });

  it('serves its own address, the loopback names and address literals', async () => {
    const port = new URL(gw.url).port;
    for (const host of [authority(gw), `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, `192.168.1.20:${port}`]) {
      expect((await send(gw.url, 'GET', '/jobs/j', { host })).status, host).toBe(200);
    }
  });

  it('serves the public host it was given, and only that name', async () => {
    expect((await send(named.url, 'GET', '/jobs/j', { host: 'ferry.example.net' })).status).toBe(200);
    expect((await send(named.url, 'GET', '/jobs/j', { host: 'other.example.net' })).status).toBe(421);
    expect((await send(gw.url, 'GET', '/jobs/j', { host: 'ferry.example.net' })).status).toBe(421);
  });

  it('refuses a websocket from a foreign name', async () => {
    const ws = new WebSocket(gw.wsUrl, { headers: { host: 'rebind.example.com' } });
    expect(await upgradeStatus(ws)).toBe(421);
  });
});

describe('gateway: Origin (CORS)', () => {
  it('answers its own page with its origin allowed, a foreign page without', async () => {
    const own = `http://${authority(gw)}`;
    const mine = await send(gw.url, 'GET', '/jobs/j', { origin: own });
    expect(mine.headers['access-control-allow-origin']).toBe(own);
    const foreign = await send(gw.url, 'GET', '/jobs/j', { origin: 'https://evil.example.com' });
    expect(foreign.status).toBe(200);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a POST from a foreign page (or a sandboxed one, Origin null) with 403', async () => {
    for (const origin of ['https://evil.example.com', 'null']) {
      const answer = await send(gw.url, 'POST', '/jobs', { origin, 'content-type': 'application/json' }, JOB);
      expect(answer.status, origin).toBe(403);
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
    }
    expect(events).toEqual([]);
    const own = await send(gw.url, 'POST', '/jobs', { origin: `http://${authority(gw)}`, 'content-type': 'application/json' }, JOB);
    expect(own.status).toBe(202);
  });

  it('refuses a websocket from a foreign page, opens one for its own page and for clients that are no page', async () => {
    expect(await upgradeStatus(new WebSocket(gw.wsUrl, { origin: 'https://evil.example.com' }))).toBe(403);
    expect(await upgradeStatus(new WebSocket(gw.wsUrl, { origin: `http://${authority(gw)}` }))).toBe(101);
    expect(await upgradeStatus(new WebSocket(gw.wsUrl))).toBe(101);
  });
});

describe('gateway: a page hosted on another origin', () => {
  it('allows the origins it was given: CORS, the preflight of a JSON post, the post and the websocket', async () => {
    const pre = await send(hosted.url, 'OPTIONS', '/jobs', { origin: SITE, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' });
    expect(pre.status).toBe(204);
    expect(pre.headers).toMatchObject({ 'access-control-allow-origin': SITE, 'access-control-allow-headers': 'content-type' });
    const post = await send(hosted.url, 'POST', '/jobs', { origin: SITE, 'content-type': 'application/json' }, JOB);
    expect(post.status).toBe(202);
    expect(post.headers['access-control-allow-origin']).toBe(SITE);
    expect(await upgradeStatus(new WebSocket(hosted.wsUrl, { origin: SITE }))).toBe(101);
  });

  it('still refuses every other origin, the preflight included', async () => {
    const pre = await send(hosted.url, 'OPTIONS', '/jobs', { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' });
    expect(pre.status).toBe(403);
    expect(pre.headers['access-control-allow-origin']).toBeUndefined();
    expect(await upgradeStatus(new WebSocket(hosted.wsUrl, { origin: 'https://evil.example.com' }))).toBe(403);
    expect((await send(gw.url, 'OPTIONS', '/jobs', { origin: SITE, 'access-control-request-method': 'POST' })).status).toBe(403);
  });

  it('takes only origins (scheme, host, port)', async () => {
    await expect(startGateway({ apps: [], apis, backend, allowedOrigins: ['https://site.example.org/page'] })).rejects.toThrow(/allowed origin/);
  });
});

/** 101 when the websocket opened (then closed again), else the status the upgrade was refused with. */
function upgradeStatus(ws: WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}
