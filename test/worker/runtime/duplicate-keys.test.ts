import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiGatewayResult } from '../../../src/protocol/apigw-event.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createRuntimeServer } from '../../../src/worker/runtime/server.js';
import { createWorker } from '../../../src/worker/worker.js';

const SECRET = 'gateway-secret-for-tests';
let base: string;
let close: () => void;

beforeAll(async () => {
  const worker = createWorker(loadConfig({ FERRY_WORK_DIR: join(tmpdir(), 'ferry-duplicate-keys') }), () => undefined);
  const server = createRuntimeServer({ api: worker.api, runJob: worker.runJob, gatewaySecret: SECRET, dispatchSecret: undefined, httpApi: false, log: () => undefined });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});

afterAll(() => close?.());

/** An API-gateway event as text, so keys can repeat; `headers` is spliced in as written. */
function eventText(body: string, headers = `{"x-ferry-gateway-secret":"${SECRET}","content-type":"application/json"}`): string {
  return `{"path":"/jobs","httpMethod":"POST","headers":${headers},"queryParameters":{},"pathParameters":{},"body":${JSON.stringify(body)},"isBase64Encoded":false}`;
}

async function invoke(text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${base}/invoke`, { method: 'POST', body: text });
  const answer = await response.text();
  if (response.status !== 200) return { status: response.status, body: JSON.parse(answer) as Record<string, unknown> };
  const result = JSON.parse(answer) as ApiGatewayResult;
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
}

describe('duplicate JSON keys in API-gateway events', () => {
  it('refuses a POST /jobs body naming url twice, before anything reads it', async () => {
    const body = '{"url":"file:///etc/passwd","url":"https://github.com/owner/repo"}';
    expect(await invoke(eventText(body))).toEqual({ status: 400, body: { code: 'INVALID_JSON', status: 400, message: expect.stringContaining('"url" twice') } });
  });

  it('refuses an event whose own keys repeat (a second headers map without the secret)', async () => {
    const text = eventText('{"url":"https://github.com/owner/repo"}', `{"x-ferry-gateway-secret":"${SECRET}"},"headers":{}`);
    expect(await invoke(text)).toEqual({ status: 400, body: { code: 'BAD_REQUEST', status: 400, message: expect.stringContaining('"headers" twice') } });
  });

  it('refuses a repeated header inside the event', async () => {
    const text = eventText('{}', `{"x-ferry-gateway-secret":"${SECRET}","x-ferry-gateway-secret":"other"}`);
    expect(await invoke(text)).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST', message: expect.stringContaining('(in $.headers)') } });
  });
});
