/**
 * The gateway vouches for the device a call comes from: every call over a websocket reaches the backend with the
 * connection's RG# id in x-ca-deviceid (the worker binds a job's pushes to it), whatever the client put there,
 * and a call over plain HTTP with none. Real websockets; the backend is a small fake that records events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway, type Gateway } from '../../src/local/gateway/index.js';

const events: ApiGatewayEvent[] = [];
const backend = {
  async invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
    events.push(event);
    return { isBase64Encoded: false, statusCode: 202, headers: { 'content-type': 'application/json' }, body: '{}' };
  },
};

let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({ apps: [], apis: [{ method: 'POST', path: '/jobs', auth: 'ANONYMOUS' }], backend, log: () => {} });
});

afterAll(async () => {
  await gw?.close();
});

/** Opens a websocket, claims `deviceId`, sends one API frame and resolves with its answer frame. */
async function overWebsocket(deviceId: string, headers: Record<string, string>): Promise<Record<string, unknown>> {
  const ws = new WebSocket(gw.wsUrl);
  const frames: string[] = [];
  let wake: () => void = () => {};
  ws.on('message', (data) => {
    frames.push(data.toString());
    wake();
  });
  const next = async (match: (frame: string) => boolean): Promise<string> => {
    for (;;) {
      const found = frames.find(match);
      if (found) return found;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
  try {
    ws.send(`RG#${deviceId}`);
    await next((f) => f.startsWith('RO#'));
    const all = { 'x-ca-seq': '1', 'content-type': 'application/json', ...headers };
    ws.send(JSON.stringify({ method: 'POST', host: 'gw', path: '/jobs', querys: {}, headers: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, [v]])), isBase64: 0, body: '{}' }));
    return JSON.parse(await next((f) => f.startsWith('{'))) as Record<string, unknown>;
  } finally {
    ws.close();
  }
}

describe('gateway: the device of a call', () => {
  it("is the connection's over the websocket, a client's own x-ca-deviceid replaced", async () => {
    events.length = 0;
    expect((await overWebsocket('a=b+c', { 'x-ca-deviceid': 'someone-else' })).status).toBe(202);
    expect(events.at(-1)?.headers['x-ca-deviceid']).toBe('a=b+c');
    expect((await overWebsocket('dev-2', {})).status).toBe(202);
    expect(events.at(-1)?.headers['x-ca-deviceid']).toBe('dev-2');
  });

  it('is none over plain HTTP, whatever the client claims', async () => {
    events.length = 0;
    const response = await fetch(`${gw.url}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-ca-deviceid': 'someone-else' }, body: '{}' });
    expect(response.status).toBe(202);
    expect(events.at(-1)?.headers).not.toHaveProperty('x-ca-deviceid');
  });
});
