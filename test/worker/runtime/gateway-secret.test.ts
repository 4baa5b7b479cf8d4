import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../../src/protocol/apigw-event.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createRuntimeServer } from '../../../src/worker/runtime/server.js';
import { createWorker } from '../../../src/worker/worker.js';

const SECRET = 'gateway-secret-for-tests';
let base: string;
let close: () => void;

beforeAll(async () => {
  const worker = createWorker(loadConfig({ FERRY_WORK_DIR: join(tmpdir(), 'ferry-gateway-secret') }), () => undefined);
  // As production runs it: no HTTP API on trigger paths, events only with the gateway's secret.
  const server = createRuntimeServer({ api: worker.api, runJob: worker.runJob, gatewaySecret: SECRET, dispatchSecret: undefined, httpApi: false, log: () => undefined });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});

afterAll(() => close?.());

async function invoke(headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const event: ApiGatewayEvent = { path: '/healthz', httpMethod: 'GET', headers, queryParameters: {}, pathParameters: {}, body: '', isBase64Encoded: false };
  const response = await fetch(`${base}/invoke`, { method: 'POST', body: JSON.stringify(event) });
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, body: JSON.parse(text) as Record<string, unknown> };
  const result = JSON.parse(text) as ApiGatewayResult;
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
}

describe('API-gateway events and FERRY_GATEWAY_SECRET', () => {
  it('serves an event that carries the secret (any header case)', async () => {
    expect(await invoke({ 'x-ferry-gateway-secret': SECRET })).toMatchObject({ status: 200, body: { ok: true } });
    expect(await invoke({ 'X-Ferry-Gateway-Secret': SECRET })).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('refuses a made-up event posted straight to /invoke, with or without a wrong secret', async () => {
    for (const headers of [{}, { 'x-ferry-gateway-secret': 'guess' }] as Record<string, string>[]) {
      expect(await invoke(headers)).toMatchObject({ status: 401, body: { code: 'UNAUTHORIZED', message: expect.stringContaining('through API Gateway') } });
    }
  });

  it('still refuses the API on plain trigger paths', async () => {
    expect((await fetch(`${base}/jobs`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});
