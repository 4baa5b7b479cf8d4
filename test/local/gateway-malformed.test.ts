/**
 * Malformed HTTP at the gateway, over raw sockets (node:net): each gets a status line and a JSON body, never a
 * dropped connection or an open-ended wait. The backend is a small fake: only the gateway's HTTP edge is tested.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway, type Gateway } from '../../src/local/gateway/index.js';

const events: ApiGatewayEvent[] = [];
const backend = {
  async invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
    events.push(event);
    return { isBase64Encoded: false, statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
  },
};

let gw: Gateway;

beforeAll(async () => {
  // A short request timeout, so the truncated body is answered soon; the test asserts the status, not the time.
  gw = await startGateway({
    apps: [],
    apis: [
      { method: 'POST', path: '/jobs', auth: 'ANONYMOUS' },
      { method: 'GET', path: '/healthz', auth: 'ANONYMOUS' },
    ],
    backend,
    requestTimeoutMs: 300,
    log: () => {},
  });
});

afterAll(async () => {
  await gw?.close();
});

interface RawAnswer {
  statusLine: string;
  json: Record<string, unknown> | undefined;
}

/** Writes `request` as it is and reads until the gateway closes the connection. */
function raw(request: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n', 2);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      resolve({ statusLine: head.split('\r\n')[0] ?? '', json });
    });
    socket.write(request);
  });
}

const host = (): string => new URL(gw.url).host;

describe('gateway: malformed HTTP gets a status', () => {
  it('answers a 100 KB header with 431', async () => {
    const answer = await raw(`GET /healthz HTTP/1.1\r\nHost: ${host()}\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
    expect(answer.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(answer.json).toMatchObject({ code: 'HEADERS_TOO_LARGE', status: 431 });
  });

  it('answers Content-Length together with Transfer-Encoding with 400', async () => {
    const answer = await raw(
      `POST /jobs HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    );
    expect(answer.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(answer.json).toMatchObject({ code: 'BAD_REQUEST' });
    expect(events).toEqual([]);
  });

  it('answers a body shorter than its Content-Length with 408 once the request timeout ends', async () => {
    const answer = await raw(`POST /jobs HTTP/1.1\r\nHost: ${host()}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"url":`);
    expect(answer.statusLine).toBe('HTTP/1.1 408 Request Timeout');
    expect(answer.json).toMatchObject({ code: 'REQUEST_TIMEOUT', status: 408 });
    expect(events).toEqual([]);
  });

  it('answers headers that never end with 408', async () => {
    const answer = await raw(`GET /healthz HTTP/1.1\r\nHost: ${host()}\r\nX-Slow: 1\r\n`);
    expect(answer.statusLine).toBe('HTTP/1.1 408 Request Timeout');
  });

  it('answers a request line that is not HTTP with 400', async () => {
    const answer = await raw('HELLO\r\n\r\n');
    expect(answer.statusLine).toBe('HTTP/1.1 400 Bad Request');
  });

  it('goes on serving well-formed requests', async () => {
    const response = await fetch(`${gw.url}/healthz`);
    expect(response.status).toBe(200);
  });
});
