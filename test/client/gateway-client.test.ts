/**
 * GatewayClient against the real gateway emulator (APP auth everywhere) with a small fake backend:
 * heartbeats, pushes, signed frames, refusals and an unreachable gateway. Then against a bare `ws`
 * server that misbehaves on purpose: goes silent, or drops the client while it is being closed.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { createServer } from 'node:net';
import { GatewayClient, type ConnectingInfo } from '../../src/client/gateway-client.js';
import { startGateway, type Gateway } from '../../src/local/gateway/index.js';
import { createNotifier } from '../../src/worker/notify/notifier.js';
import { waitFor } from '../helpers/wait.js';

const app = { appKey: 'cli-app', appSecret: 'cli-secret' };
const events: ApiGatewayEvent[] = [];
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    apps: [app],
    apis: [
      { method: 'POST', path: '/register', auth: 'APP', type: 'REGISTER' },
      { method: 'POST', path: '/notify', auth: 'APP', type: 'NOTIFY' },
      { method: 'GET', path: '/echo', auth: 'APP' },
    ],
    backend: {
      async invoke(event): Promise<ApiGatewayResult> {
        events.push(event);
        return { isBase64Encoded: false, statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: event.path, query: event.queryParameters }) };
      },
    },
    keepAliveMs: 500,
    log: () => undefined,
  });
});
afterAll(() => gw.close());

describe('GatewayClient', () => {
  it('registers with a signed REGISTER, keeps the connection alive with H1, signs calls', async () => {
    const client = new GatewayClient({ url: gw.wsUrl, credentials: app });
    const disconnects: string[] = [];
    client.on('disconnect', (reason) => disconnects.push(reason));
    await client.connect();
    try {
      const register = events.find((e) => e.path === '/register');
      expect(register?.headers['x-ca-deviceid']).toBe(client.deviceId);
      expect(client.deviceId).toMatch(/^[0-9a-f-]{36}@cli-app$/);
      // Three missed beats (1500 ms) would close the connection.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      expect(disconnects).toEqual([]);
      const res = await client.request({ method: 'GET', path: '/echo', query: { a: '1', b: 'x y' } });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ path: '/echo', query: { a: '1', b: 'x y' } });
    } finally {
      client.close();
    }
  });

  it('acks and emits NF pushes', async () => {
    const client = new GatewayClient({ url: gw.wsUrl, credentials: app });
    const received: string[] = [];
    client.on('message', (text) => received.push(text));
    await client.connect();
    try {
      const notifier = createNotifier({ url: `${gw.url}/notify`, ...app, minIntervalMs: 0 });
      notifier.send(client.deviceId, 'job-1', { v: 1, type: 'progress', jobId: 'job-1', phase: 'queued', ts: 1 }, { important: true });
      await notifier.flush();
      await waitFor(() => received.length === 1);
      expect(JSON.parse(received[0]!)).toMatchObject({ jobId: 'job-1', phase: 'queued' });
    } finally {
      client.close();
    }
  });

  it('a wrong secret is refused at REGISTER (GATEWAY_REFUSED), without retrying forever', async () => {
    const client = new GatewayClient({ url: gw.wsUrl, credentials: { ...app, appSecret: 'nope' } });
    await expect(client.connect()).rejects.toMatchObject({ code: 'GATEWAY_REFUSED', message: expect.stringMatching(/Invalid Signature/) });
    client.close();
  });

  it('an invalid device id is refused by RG (RF#)', async () => {
    const client = new GatewayClient({ url: gw.wsUrl, credentials: app, deviceId: 'has space' });
    await expect(client.connect()).rejects.toMatchObject({ code: 'GATEWAY_REFUSED', message: expect.stringMatching(/Invalid DeviceId/) });
    client.close();
  });

  it('a refused first connect fails with GATEWAY_UNREACHABLE after 2 attempts, however many the backoff allows', async () => {
    const url = `ws://127.0.0.1:${await closedPort()}`;
    const client = new GatewayClient({ url, credentials: app, backoff: { initialMs: 10, attempts: 8 } });
    const attempts: ConnectingInfo[] = [];
    client.on('connecting', (info) => attempts.push(info));
    await expect(client.connect()).rejects.toMatchObject({
      code: 'GATEWAY_UNREACHABLE',
      message: expect.stringMatching(new RegExp(`^Cannot reach the gateway at ${url} after 2 attempts: connection refused`)),
    });
    expect(attempts).toEqual([
      { attempt: 1, reconnect: false },
      { attempt: 2, reconnect: false },
    ]);
    await expect(client.request({ method: 'GET', path: '/echo' })).rejects.toMatchObject({ code: 'GATEWAY_UNREACHABLE' });
    client.close();
  });
});

/**
 * Just enough of the protocol to register: RG → RO, REGISTER → 200. Never answers H1 (a gateway the
 * network silently lost); `delayRoMs` holds back RO so a test can act while a connection is opening.
 */
async function startBareGateway(options: { keepAliveMs: number; delayRoMs?: (connection: number) => number; holdRegister?: 200 | 401 }): Promise<{
  url: string;
  sockets: WebSocket[];
  /** API frames in the order they arrived: `REGISTER` or `<method> <path>`. */
  frames: string[];
  open: () => number;
  close: () => Promise<void>;
}> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => wss.once('listening', resolve));
  const sockets: WebSocket[] = [];
  const frames: string[] = [];
  wss.on('connection', (ws) => {
    let heldRegister: string | undefined;
    const answer = (seq: string | undefined, status: number): void =>
      ws.send(JSON.stringify({ status, header: { 'x-ca-seq': seq, ...(status === 401 && { 'x-ca-error-message': 'Invalid Signature' }) }, body: '{}', isBase64: 0 }));
    sockets.push(ws);
    const connection = sockets.length;
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith('RG#')) {
        setTimeout(() => ws.send(`RO#cred#${options.keepAliveMs}`), options.delayRoMs?.(connection) ?? 0);
      } else if (text.startsWith('{')) {
        const frame = JSON.parse(text) as { method: string; path: string; headers: Record<string, string[]> };
        const seq = frame.headers['x-ca-seq']?.[0];
        if (frame.headers['x-ca-websocket_api_type']?.[0] === 'REGISTER') {
          frames.push('REGISTER');
          // Held: REGISTER is answered only once another call has arrived behind it.
          if (options.holdRegister) heldRegister = seq;
          else answer(seq, 200);
        } else {
          frames.push(`${frame.method} ${frame.path}`);
          if (heldRegister !== undefined) answer(heldRegister, options.holdRegister ?? 200);
          if (options.holdRegister !== 401) answer(seq, 200);
        }
      }
      // H1 goes unanswered.
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    sockets,
    frames,
    open: () => sockets.filter((ws) => ws.readyState === ws.OPEN).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

describe('GatewayClient on a misbehaving connection', () => {
  it('terminates a connection that stays silent for 3 keep-alives, reconnects and registers again', async () => {
    const keepAliveMs = 250;
    const server = await startBareGateway({ keepAliveMs });
    const client = new GatewayClient({ url: server.url, backoff: { initialMs: 50 } });
    const reconnects: string[] = [];
    client.on('reconnect', (info) => reconnects.push(info.reason));
    try {
      await client.connect();
      await waitFor(() => reconnects.length === 1, 20 * keepAliveMs);
      expect(reconnects).toEqual(['closed']);
      expect(server.sockets).toHaveLength(2);
      // The server never closes a connection: the first one was ended by the client, and the
      // second is the one it registered again on.
      const [first, second] = server.sockets as [WebSocket, WebSocket];
      await waitFor(() => first.readyState === first.CLOSED);
      await waitFor(() => server.open() === 1);
      expect(second.readyState).toBe(second.OPEN);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a pipelined call goes out right behind REGISTER, before REGISTER is answered', async () => {
    // REGISTER's answer is held until the call arrives: a client that waited for it would never send the call.
    const server = await startBareGateway({ keepAliveMs: 10_000, holdRegister: 200 });
    const client = new GatewayClient({ url: server.url });
    try {
      const connected = client.connect();
      const res = await client.request({ method: 'POST', path: '/jobs', body: '{}' }, { pipelined: true });
      expect(res.status).toBe(200);
      await connected;
      expect(server.frames).toEqual(['REGISTER', 'POST /jobs']);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('a refused REGISTER fails the call pipelined behind it, and connect() says why', async () => {
    const server = await startBareGateway({ keepAliveMs: 10_000, holdRegister: 401 });
    const client = new GatewayClient({ url: server.url });
    try {
      const connected = client.connect();
      connected.catch(() => undefined); // looked at below, after the call
      await expect(client.request({ method: 'POST', path: '/jobs', body: '{}' }, { pipelined: true })).rejects.toMatchObject({ code: 'GATEWAY_UNREACHABLE' });
      await expect(connected).rejects.toMatchObject({ code: 'GATEWAY_REFUSED', message: expect.stringMatching(/Invalid Signature/) });
      await expect(client.request({ method: 'POST', path: '/jobs', body: '{}' }, { pipelined: true })).rejects.toMatchObject({ code: 'GATEWAY_REFUSED' });
    } finally {
      client.close();
      await server.close();
    }
  });

  it('reconnects after a drop keep the whole backoff, refused or not', async () => {
    const server = await startBareGateway({ keepAliveMs: 10_000 });
    const client = new GatewayClient({ url: server.url, backoff: { initialMs: 10, maxMs: 20, attempts: 4 } });
    const attempts: ConnectingInfo[] = [];
    client.on('connecting', (info) => attempts.push(info));
    try {
      await client.connect();
      const failed = new Promise<Error>((resolve) => client.on('failed', resolve));
      // Nothing listens on the port any more: every reconnect attempt is refused.
      await server.close();
      expect((await failed).message).toMatch(/after 4 attempts: connection refused/);
      expect(attempts).toEqual([
        { attempt: 1, reconnect: false },
        ...[1, 2, 3, 4].map((attempt) => ({ attempt, reconnect: true })),
      ]);
    } finally {
      client.close();
    }
  });

  it('close() during the reconnect backoff opens nothing more', async () => {
    const server = await startBareGateway({ keepAliveMs: 10_000 });
    const client = new GatewayClient({ url: server.url, backoff: { initialMs: 300 } });
    try {
      await client.connect();
      const disconnected = new Promise((resolve) => client.on('disconnect', resolve));
      server.sockets[0]!.terminate();
      await disconnected;
      client.close();
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(server.sockets).toHaveLength(1);
      expect(server.open()).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('close() while a reconnect is opening ends that connection as soon as it is up', async () => {
    const server = await startBareGateway({ keepAliveMs: 10_000, delayRoMs: (connection) => (connection === 2 ? 300 : 0) });
    const client = new GatewayClient({ url: server.url, backoff: { initialMs: 10 } });
    try {
      await client.connect();
      server.sockets[0]!.terminate();
      await waitFor(() => server.sockets.length === 2);
      client.close();
      await waitFor(() => server.open() === 0);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(server.sockets).toHaveLength(2);
      expect(server.open()).toBe(0);
    } finally {
      await server.close();
    }
  });
});

/** A port nothing listens on (one that was just free), so connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
