// Hostile bodies and events at the worker itself: its HTTP API (src/worker/api, on as for an FC HTTP trigger) and
// its /invoke (API-gateway events and job events, each checked for the secret that proves where it came from). The
// worker runs as FC runs it, through ./bootstrap, with the real OSS store and the fixture git server allowed.
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { ossEnv } from '../helpers/oss-env.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';
import { hostileTable, postJson, readAnswer, send, type Row, type SendOptions, type Stage } from './_table.js';

const KEY = { accessKeyId: 'LTAI-hostile', accessKeySecret: 'hostile-oss-secret-9f8e7d6c5b4a' };
const DISPATCH_SECRET = 'hostile-dispatch-secret-0a1b2c3d4e5f';
const GATEWAY_SECRET = 'hostile-gateway-secret-5f4e3d2c1b0a';
const APP_SECRET = 'hostile-app-secret-a1b2c3d4e5f6';

interface Target {
  worker: string;
  repo: string;
}

let git: GitServer;
let oss: OssServer;
let worker: WorkerProcess;
let temp: string;
let target: Target;

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'ferry-hostile-bodies-'));
  git = await startGitServer({ root: await fixtureRoot() });
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  worker = await startWorkerProcess({
    ...ossEnv(oss, KEY),
    FERRY_WORK_DIR: join(temp, 'work'),
    FERRY_ALLOWED_HOSTS: `github.com,${git.host}`,
    FERRY_ALLOW_HTTP: '1',
    FERRY_DISPATCH_SECRET: DISPATCH_SECRET,
    FERRY_GATEWAY_SECRET: GATEWAY_SECRET,
    FERRY_APP_KEY: 'hostile-app',
    FERRY_APP_SECRET: APP_SECRET,
  });
  target = { worker: worker.url, repo: `${git.url}/fixtures/basic` };
});

afterAll(async () => {
  await worker?.close();
  await oss?.close();
  await git?.close();
  if (temp) await rm(temp, { recursive: true, force: true });
});

const raw = (options: SendOptions) => async (t: Target) => readAnswer(await send(t.worker, options));
const body = (text: string | Buffer, headers: Record<string, string> = {}) => raw({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json', ...headers }, body: text });
const job = (fields: (t: Target) => unknown, headers: Record<string, string> = {}) => (t: Target) => postJson(t.worker, '/jobs', fields(t), headers);
const invoke = (event: (t: Target) => string) => (t: Target) => postJson(t.worker, '/invoke', event(t));

const URL_ = 'https://github.com/a/b';
const NOT_JSON = /not valid JSON: send a JSON object/;
const OBJECT = /Expected a JSON object such as/;
/** Arrays nested `depth` deep, as one field's value. */
const nested = (depth: number): string => `{"url":"${URL_}","x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
const signed = (spec: string, secret: string): string => createHmac('sha256', secret).update(spec).digest('base64url');
const SPEC = JSON.stringify({ jobId: 'job-hostile-0001', repo: URL_, commit: 'a'.repeat(40), ref: 'main', format: 'zip', kind: 'archive', createdAt: 1 });
const gatewayEvent = (headers: Record<string, string>) =>
  JSON.stringify({ path: '/jobs', httpMethod: 'POST', headers: { 'content-type': 'application/json', ...headers }, queryParameters: {}, pathParameters: {}, body: JSON.stringify({ url: URL_ }), isBase64Encoded: false });

const rows: Row<Target>[] = [
  // Not JSON, or not an object
  { name: 'a form body', send: body('url=https%3A%2F%2Fgithub.com%2Fa%2Fb'), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'truncated JSON', send: body('{"url":'), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'an empty body', send: body(''), status: 400, code: 'INVALID_JSON', message: /body is empty/ },
  { name: 'whitespace only', send: body(' \r\n\t '), status: 400, code: 'INVALID_JSON', message: /body is empty/ },
  { name: 'a byte-order mark before the JSON', send: body(`\ufeff{"url":"${URL_}"}`), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'JSON with a comment', send: body(`{"url":"${URL_}" /* x */}`), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'single quotes', send: body(`{'url':'${URL_}'}`), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'NaN', send: body(`{"url":"${URL_}","have":NaN}`), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'two objects', send: body(`{"url":"${URL_}"}{"url":"${URL_}"}`), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  { name: 'invalid UTF-8', send: body(Buffer.concat([Buffer.from('{"url":"https://github.com/a/'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])), status: 400, code: 'INVALID_URL', message: /not a valid owner or repository name/ },
  { name: 'an empty array', send: body('[]'), status: 400, code: 'BAD_REQUEST', message: OBJECT },
  { name: 'an array holding the job', send: body(`[{"url":"${URL_}"}]`), status: 400, code: 'BAD_REQUEST', message: OBJECT },
  { name: 'a bare string', send: body(`"${URL_}"`), status: 400, code: 'BAD_REQUEST', message: OBJECT },
  { name: 'a number', send: body('1'), status: 400, code: 'BAD_REQUEST', message: OBJECT },
  { name: 'null', send: body('null'), status: 400, code: 'BAD_REQUEST', message: OBJECT },
  { name: 'true', send: body('true'), status: 400, code: 'BAD_REQUEST', message: OBJECT },
  // Size and depth
  { name: '129 KiB declared', send: body(' '.repeat(129 * 1024)), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /larger than 128 KiB/ },
  { name: '200 KiB chunked, no length', send: (t) => chunked(t.worker, 200 * 1024), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /larger than 128 KiB/ },
  { name: 'a 100 KiB unknown field name', send: job(() => ({ url: URL_, ['k'.repeat(100 * 1024)]: 1 })), status: 400, code: 'BAD_REQUEST', message: /Unknown field "k{40}"/ },
  { name: 'a 100 KiB url', send: job(() => ({ url: `https://github.com/${'a'.repeat(100 * 1024)}/b` })), status: 400, code: 'INVALID_URL', message: /longer than 512/ },
  { name: 'arrays nested 60000 deep', send: body(nested(60_000)), status: 400, code: 'BAD_REQUEST', message: /Unknown field "x"/ },
  { name: 'objects nested 20000 deep', send: body(`{"url":"${URL_}","x":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`), status: 400, code: 'BAD_REQUEST', message: /Unknown field "x"/ },
  { name: 'a body of 60000 opening brackets', send: body('['.repeat(60_000)), status: 400, code: 'INVALID_JSON', message: NOT_JSON },
  // Duplicate keys: JSON.parse keeps the last, a filter reading the text may have checked the first
  { name: 'url twice', send: body(`{"url":"file:///etc/passwd","url":"${URL_}"}`), status: 400, code: 'INVALID_JSON', message: /"url" twice \(in \$\): send each field once/ },
  { name: 'url twice, one escaped', send: body(`{"url":"${URL_}","\\u0075rl":"http://100.100.100.200/a/b"}`), status: 400, code: 'INVALID_JSON', message: /"url" twice/ },
  { name: 'kind twice', send: body(`{"kind":"archive","url":"${URL_}","kind":"file"}`), status: 400, code: 'INVALID_JSON', message: /"kind" twice/ },
  { name: 'deviceId twice', send: body(`{"url":"${URL_}","deviceId":"a","deviceId":"b"}`), status: 400, code: 'INVALID_JSON', message: /"deviceId" twice/ },
  { name: '__proto__ twice', send: body(`{"url":"${URL_}","__proto__":{},"__proto__":{}}`), status: 400, code: 'INVALID_JSON', message: /"__proto__" twice/ },
  { name: 'a duplicate deep inside', send: body(`{"url":"${URL_}","x":[{"y":{"a":1,"a":2}}]}`), status: 400, code: 'INVALID_JSON', message: /"a" twice \(in \$\.x\[0\]\.y\)/ },
  // Wrong types
  { name: 'ref as true', send: job(() => ({ url: URL_, ref: true })), status: 400, code: 'INVALID_REF', message: /Expected `ref`/ },
  { name: 'format as a list', send: job(() => ({ url: URL_, format: ['zip'] })), status: 400, code: 'INVALID_FORMAT', message: /Expected `format`/ },
  { name: 'have as a string', send: job(() => ({ kind: 'bundle', url: URL_, have: 'a'.repeat(40) })), status: 400, code: 'INVALID_HAVE', message: /Expected `have` to be a list/ },
  { name: 'refs as an object', send: job(() => ({ kind: 'bundle', url: URL_, refs: { main: true } })), status: 400, code: 'INVALID_REF', message: /Expected `refs` to be a list/ },
  { name: 'kind as an object', send: job(() => ({ kind: { name: 'file' }, url: URL_ })), status: 400, code: 'BAD_REQUEST', message: /Expected `kind`/ },
  // Device ids: the header (the gateway's, on a websocket call) and the body must agree
  { name: 'a malformed x-ca-deviceid header', send: job(() => ({ url: URL_ }), { 'x-ca-deviceid': 'a b' }), status: 400, code: 'INVALID_DEVICE_ID', message: /Expected `deviceId` to be 1-128 characters/ },
  { name: 'a body deviceId unlike the connection', send: job(() => ({ url: URL_, deviceId: 'victim' }), { 'x-ca-deviceid': 'attacker' }), status: 400, code: 'INVALID_DEVICE_ID', message: /"victim" is not the device of the connection.*leave it out/ },
  { name: 'register with no device', send: raw({ method: 'POST', path: '/register' }), status: 400, code: 'INVALID_DEVICE_ID', message: /register through the gateway websocket/ },
  { name: 'register a malformed device', send: raw({ method: 'POST', path: '/register', headers: { 'x-ca-deviceid': '../x' } }), status: 400, code: 'INVALID_DEVICE_ID', message: /Expected `deviceId`/ },
  // Paths and methods
  { name: 'a job id with traversal', send: raw({ path: '/jobs/..%2f..%2fetc%2fpasswd' }), status: 404, code: 'JOB_NOT_FOUND', message: /job ids are 8-64 letters/ },
  { name: 'a job id with a malformed escape', send: raw({ path: '/jobs/%E0%A4%A' }), status: 404, code: 'JOB_NOT_FOUND', message: /job ids are 8-64 letters/ },
  { name: 'a job id of 300 characters', send: raw({ path: `/jobs/${'j'.repeat(300)}` }), status: 404, code: 'JOB_NOT_FOUND', message: /job ids are 8-64 letters/ },
  { name: 'DELETE a job', send: raw({ method: 'DELETE', path: '/jobs/job-12345678' }), status: 405, code: 'METHOD_NOT_ALLOWED', message: /Use GET/ },
  { name: 'PUT /jobs', send: raw({ method: 'PUT', path: '/jobs', body: '{}' }), status: 405, code: 'METHOD_NOT_ALLOWED', message: /Use POST/ },
  { name: 'an unknown path', send: raw({ path: '/admin' }), status: 404, code: 'NOT_FOUND', message: /No route for GET \/admin/ },
  // Events on /invoke: only the gateway (its secret header) and the worker itself (the dispatch HMAC) may send them
  { name: 'an event that is not JSON', send: invoke(() => 'not json'), status: 400, code: 'BAD_REQUEST', message: /must be JSON/ },
  { name: 'an event of no known kind', send: invoke(() => '{"hello":1}'), status: 400, code: 'BAD_REQUEST', message: /Unknown event: expected/ },
  { name: 'a job event with a forged signature', send: invoke(() => JSON.stringify({ type: 'job', spec: SPEC, signature: 'forged' })), status: 401, code: 'UNAUTHORIZED', message: /not signed with this worker's dispatch secret/ },
  { name: 'a job event signed with another secret', send: invoke(() => JSON.stringify({ type: 'job', spec: SPEC, signature: signed(SPEC, 'guess') })), status: 401, code: 'UNAUTHORIZED', message: /dispatch secret/ },
  {
    name: 'a signed job event with its spec changed',
    send: invoke(() => JSON.stringify({ type: 'job', spec: SPEC.replace(URL_, 'http://100.100.100.200/a/b'), signature: signed(SPEC, DISPATCH_SECRET) })),
    status: 401,
    code: 'UNAUTHORIZED',
    message: /dispatch secret/,
  },
  { name: 'a job event with its spec twice', send: invoke(() => `{"type":"job","spec":${JSON.stringify(SPEC)},"signature":"${signed(SPEC, DISPATCH_SECRET)}","spec":"{}"}`), status: 400, code: 'BAD_REQUEST', message: /names "spec" twice/ },
  { name: 'a gateway event without the gateway secret', send: invoke(() => gatewayEvent({})), status: 401, code: 'UNAUTHORIZED', message: /through API Gateway/ },
  { name: 'a gateway event with a wrong gateway secret', send: invoke(() => gatewayEvent({ 'x-ferry-gateway-secret': 'guess' })), status: 401, code: 'UNAUTHORIZED', message: /through API Gateway/ },
  {
    name: 'a gateway event whose headers are named twice',
    send: invoke(() => gatewayEvent({ 'x-ferry-gateway-secret': GATEWAY_SECRET }).replace('"headers":', '"headers":{},"headers":')),
    status: 400,
    code: 'BAD_REQUEST',
    message: /names "headers" twice/,
  },
  { name: 'an event over 1 MiB', send: invoke(() => `{"x":"${'a'.repeat(1024 * 1024 + 10)}"}`), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /larger than 1048576 bytes/ },
];

/** A body sent in chunks with no Content-Length, `bytes` long in all. */
async function chunked(base: string, bytes: number) {
  let left = bytes;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left <= 0) return controller.close();
      const size = Math.min(left, 4096);
      left -= size;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
  const response = await fetch(`${base}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  return readAnswer({ status: response.status, headers, body: await response.text() });
}

const stage = (): Stage<Target> => ({
  target,
  gitRequests: () => git.requests,
  secrets: { 'OSS AccessKey secret': KEY.accessKeySecret, 'dispatch secret': DISPATCH_SECRET, 'gateway secret': GATEWAY_SECRET, 'app secret': APP_SECRET },
  alive: async () => {
    const health = await send(target.worker, { path: '/healthz' });
    expect(health.status).toBe(200);
    expect(worker.child.exitCode).toBeNull();
  },
});

hostileTable('hostile bodies and events at the worker', rows, stage);
