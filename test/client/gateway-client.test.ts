/**
 * GatewayClient against the real gateway emulator (APP auth everywhere) with a small fake backend:
 * heartbeats, pushes, signed frames, refusals and an unreachable gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/apigw.js';
import { GatewayClient } from '../../src/client/gateway-client.js';
import { startGateway, type Gateway } from '../../src/local/gateway/index.js';
import { createNotifier } from '../../src/notify/notifier.js';

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
    keepAliveMs: 200,
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
      // Three missed beats (600 ms) would close the connection.
      await new Promise((resolve) => setTimeout(resolve, 1000));
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

  it('an unreachable gateway fails with GATEWAY_UNREACHABLE after the backoff attempts', async () => {
    const client = new GatewayClient({ url: 'ws://127.0.0.1:1', credentials: app, backoff: { initialMs: 10, attempts: 3 } });
    await expect(client.connect()).rejects.toMatchObject({ code: 'GATEWAY_UNREACHABLE' });
    await expect(client.request({ method: 'GET', path: '/echo' })).rejects.toMatchObject({ code: 'GATEWAY_UNREACHABLE' });
    client.close();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
