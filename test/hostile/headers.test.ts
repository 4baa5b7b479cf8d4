// Hostile HTTP at the real local stack's gateway (what a web page, a rebound name or a broken client can send a
// loopback `ferry serve`): content types, Host, Origin, oversized and malformed heads, short bodies, oversized
// bodies; and the ports behind the gateway (the worker's own, the FC emulator's front), which must not serve a
// client. Raw sockets where node:http would not send the bytes.
import { connect } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { hostileTable, postJson, readAnswer, send, type Answer, type Row, type SendOptions } from './_table.js';
import { startHostileStack, workerPort, type HostileStack } from './_stack.js';

let stage: HostileStack;
beforeAll(async () => {
  // A short request timeout, so a body shorter than its length is answered soon (the row asserts the status only).
  stage = await startHostileStack({ gateway: { requestTimeoutMs: 500 } });
});
afterAll(() => stage?.close());

const authority = (s: HostileStack): string => new URL(s.stack.api).host;
const port = (s: HostileStack): string => new URL(s.stack.api).port;
const JOB = (s: HostileStack): string => JSON.stringify({ url: s.repo });

/** Writes `request` as it is, reads until the gateway closes the connection, and parses what came back. */
function raw(request: (s: HostileStack) => string) {
  return (s: HostileStack): Promise<Answer> => {
    const { hostname, port: p } = new URL(s.stack.api);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: hostname, port: Number(p) });
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const split = text.indexOf('\r\n\r\n');
        const [statusLine = '', ...lines] = (split < 0 ? text : text.slice(0, split)).split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        resolve(readAnswer({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body: split < 0 ? '' : text.slice(split + 4) }));
      });
      socket.write(request(s));
    });
  };
}

const gw = (options: (s: HostileStack) => SendOptions) => async (s: HostileStack) => readAnswer(await send(s.stack.api, options(s)));
const postAs = (contentType: string | undefined) => gw((s) => ({ method: 'POST', path: '/jobs', headers: contentType === undefined ? ({} as Record<string, string>) : { 'content-type': contentType }, body: JOB(s) }));
const fromHost = (host: (s: HostileStack) => string, method = 'GET') =>
  gw((s) => ({ method, path: method === 'GET' ? '/jobs/job-12345678' : '/jobs', headers: { host: host(s), 'content-type': 'application/json' }, ...(method === 'POST' && { body: JOB(s) }) }));
const fromOrigin = (origin: string) => gw((s) => ({ method: 'POST', path: '/jobs', headers: { origin, 'content-type': 'application/json' }, body: JOB(s) }));

const MEDIA = /Content-Type: application\/json/;
const HOST = /does not serve the host .*use its own address/;
const ORIGIN = /only the gateway's own page may call it/;

const rows: Row<HostileStack>[] = [
  // A cross-site form needs no preflight: only JSON may post
  { name: 'a form post (text/plain)', send: postAs('text/plain'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  { name: 'a form post (urlencoded)', send: postAs('application/x-www-form-urlencoded'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  { name: 'a multipart form', send: postAs('multipart/form-data; boundary=x'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  { name: 'no content type', send: postAs(undefined), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  { name: 'text/json', send: postAs('text/json'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  { name: 'a JSON lookalike type', send: postAs('application/jsonx'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  { name: 'json as a parameter of text/plain', send: postAs('text/plain; x=application/json'), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: MEDIA },
  // DNS rebinding: a page on its own name, resolved to 127.0.0.1, is same-origin to the browser
  { name: 'a rebound name (read)', send: fromHost((s) => `rebind.example.com:${port(s)}`), status: 421, code: 'HOST_NOT_SERVED', message: HOST },
  { name: 'a rebound name (post)', send: fromHost((s) => `rebind.example.com:${port(s)}`, 'POST'), status: 421, code: 'HOST_NOT_SERVED', message: HOST },
  { name: 'a name resolving to loopback', send: fromHost((s) => `127.0.0.1.nip.io:${port(s)}`), status: 421, code: 'HOST_NOT_SERVED', message: HOST },
  { name: 'a Host with userinfo', send: fromHost((s) => `evil@${authority(s)}`), status: 421, code: 'HOST_NOT_SERVED', message: HOST },
  { name: 'a Host with a path', send: fromHost((s) => `${authority(s)}/x`), status: 421, code: 'HOST_NOT_SERVED', message: HOST },
  { name: 'a websocket from a rebound name', send: raw((s) => `GET / HTTP/1.1\r\nHost: rebind.example.com:${port(s)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`), status: 421, code: 'HOST_NOT_SERVED', message: HOST },
  // Foreign pages
  { name: 'a post from a foreign page', send: fromOrigin('https://evil.example.com'), status: 403, code: 'ORIGIN_NOT_ALLOWED', message: ORIGIN },
  { name: 'a post from a sandboxed page (Origin null)', send: fromOrigin('null'), status: 403, code: 'ORIGIN_NOT_ALLOWED', message: ORIGIN },
  { name: 'a post from a file:// page', send: fromOrigin('file://'), status: 403, code: 'ORIGIN_NOT_ALLOWED', message: ORIGIN },
  { name: 'a post from a lookalike origin', send: (s) => fromOrigin(`http://${authority(s)}.evil.example`)(s), status: 403, code: 'ORIGIN_NOT_ALLOWED', message: ORIGIN },
  { name: 'a CORS preflight from a foreign page', send: gw(() => ({ method: 'OPTIONS', path: '/jobs', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })), status: 403, code: 'ORIGIN_NOT_ALLOWED', message: ORIGIN },
  { name: 'a websocket from a foreign page', send: raw((s) => `GET / HTTP/1.1\r\nHost: ${authority(s)}\r\nOrigin: https://evil.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`), status: 403, code: 'ORIGIN_NOT_ALLOWED', message: ORIGIN },
  // Oversized and malformed heads
  { name: 'a 100 KB header', send: raw((s) => `GET /healthz HTTP/1.1\r\nHost: ${authority(s)}\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`), status: 431, code: 'HEADERS_TOO_LARGE', message: /larger than 16384 bytes: send fewer or shorter ones/ },
  { name: 'a thousand small headers', send: raw((s) => `GET /healthz HTTP/1.1\r\nHost: ${authority(s)}\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}`).join('\r\n')}\r\n\r\n`), status: 431, code: 'HEADERS_TOO_LARGE', message: /send fewer or shorter ones/ },
  { name: 'Content-Length with Transfer-Encoding (smuggling)', send: raw((s) => `POST /jobs HTTP/1.1\r\nHost: ${authority(s)}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`), status: 400, code: 'BAD_REQUEST', message: /not both/ },
  { name: 'two different Content-Lengths', send: raw((s) => `POST /jobs HTTP/1.1\r\nHost: ${authority(s)}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`), status: 400, code: 'BAD_REQUEST', message: /not valid HTTP\/1\.1/ },
  { name: 'a negative Content-Length', send: raw((s) => `POST /jobs HTTP/1.1\r\nHost: ${authority(s)}\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}`), status: 400, code: 'BAD_REQUEST', message: /not valid HTTP\/1\.1/ },
  { name: 'a bad chunk size', send: raw((s) => `POST /jobs HTTP/1.1\r\nHost: ${authority(s)}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`), status: 400, code: 'BAD_REQUEST', message: /not valid HTTP\/1\.1/ },
  { name: 'a NUL in a header value', send: raw((s) => `GET /healthz HTTP/1.1\r\nHost: ${authority(s)}\r\nX-A: a\u0000b\r\n\r\n`), status: 400, code: 'BAD_REQUEST', message: /not valid HTTP\/1\.1/ },
  { name: 'a request line that is not HTTP', send: raw(() => 'HELLO\r\n\r\n'), status: 400, code: 'BAD_REQUEST', message: /not valid HTTP\/1\.1/ },
  { name: 'a body shorter than its Content-Length', send: raw((s) => `POST /jobs HTTP/1.1\r\nHost: ${authority(s)}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"url":`), status: 408, code: 'REQUEST_TIMEOUT', message: /send as many body bytes as Content-Length says/ },
  { name: 'headers that never end', send: raw((s) => `GET /healthz HTTP/1.1\r\nHost: ${authority(s)}\r\nX-Slow: 1\r\n`), status: 408, code: 'REQUEST_TIMEOUT', message: /did not arrive whole/ },
  // Bodies: the gateway's limit (1 MiB, API Gateway's own refusal), then the worker's (128 KiB)
  { name: 'a 2 MiB body (the gateway refuses)', send: gw(() => ({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body: `{"url":"${'a'.repeat(2 * 1024 * 1024)}"}` })), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /too Large/ },
  { name: 'a 200 KiB body (the worker refuses)', send: (s) => postJson(s.stack.api, '/jobs', { url: s.repo, x: 'a'.repeat(200 * 1024) }), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /larger than 128 KiB/ },
  // Paths the gateway has no API for (API Gateway's own refusal)
  { name: 'DELETE a job', send: gw(() => ({ method: 'DELETE', path: '/jobs/job-12345678' })), status: 404, code: 'NOT_FOUND', message: /Invalid Url/ },
  // API Gateway's 403 has no code of its own: clients read it as UNAUTHORIZED.
  { name: 'a static path with traversal', send: raw((s) => `GET /../../../etc/passwd HTTP/1.1\r\nHost: ${authority(s)}\r\nConnection: close\r\n\r\n`), status: 403, code: 'UNAUTHORIZED', message: /Forbidden Path/ },
  { name: 'a static path with encoded traversal', send: gw(() => ({ path: '/%2e%2e/%2e%2e/etc/passwd' })), status: 404, code: 'NOT_FOUND', message: /Invalid Url/ },
  { name: 'the NOTIFY API unsigned (pushing to another device)', send: gw(() => ({ method: 'POST', path: '/notify', headers: { 'content-type': 'application/json', 'x-ca-deviceid': 'victim' }, body: '{"v":1}' })), status: 400, code: 'UNAUTHORIZED', message: /Invalid AppKey/ },
  // Behind the gateway: nothing else the stack starts may serve a client
  { name: "POST /jobs on the worker's own port", send: async (s) => postJson(`http://127.0.0.1:${workerPort(s.log)}`, '/jobs', { url: s.repo }), status: 404, code: 'NOT_FOUND', message: /through API Gateway only/ },
  { name: "GET /jobs/<id> on the worker's own port", send: async (s) => readAnswer(await send(`http://127.0.0.1:${workerPort(s.log)}`, { path: '/jobs/job-12345678' })), status: 404, code: 'NOT_FOUND', message: /through API Gateway only/ },
  { name: "POST /jobs on the FC emulator's front", send: (s) => postJson(s.stack.fc, '/jobs', { url: s.repo }), status: 404, code: 'NOT_FOUND', message: /through API Gateway only/ },
];

hostileTable('hostile HTTP at the gateway and behind it', rows, () => stage.stage());
