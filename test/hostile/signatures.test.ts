// Hostile signatures against the real local stack with --require-signature: API Gateway's APP signature (replayed
// nonces, skewed and malformed timestamps, requests changed after signing, over HTTP and the websocket), the OSS
// store's signed download URLs changed to read something else, for longer, or as a web page (phishing on the
// download domain), and FC's ACS3 signature on the invoke API that carries job events.
import { afterAll, beforeAll } from 'vitest';
import { WebSocket } from 'ws';
import { signRequest } from '../../src/protocol/apigw-signature.js';
import { signAcs3 } from '../../src/protocol/fc-signature.js';
import { encodeRequest } from '../../src/protocol/gateway-frames.js';
import { waitFor } from '../helpers/wait.js';
import { hostileTable, readAnswer, readFrame, send, type Answer, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

interface Target {
  s: HostileStack;
  /** A signed download URL of a finished job, as a client gets it. */
  download: string;
  jobId: string;
}

let stage: HostileStack;
let target: Target;

interface Call {
  method: string;
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string;
}

const pathOf = (call: Call): string => `${call.path}${call.query ? `?${new URLSearchParams(call.query).toString()}` : ''}`;

/** The headers a client signs `call` with; `secret` and `now` replace the real ones for the rows that forge them. */
function sign(s: HostileStack, call: Call, options: { secret?: string; appKey?: string; now?: number; nonce?: string } = {}): Record<string, string> {
  const { appKey, appSecret } = s.credentials;
  return signRequest(
    { method: call.method, path: call.path, query: call.query ?? {}, headers: call.headers ?? {}, body: call.body ?? '' },
    { appKey: options.appKey ?? appKey, appSecret: options.secret ?? appSecret },
    { ...(options.now !== undefined && { now: options.now }), ...(options.nonce !== undefined && { nonce: options.nonce }) },
  );
}

async function sendCall(s: HostileStack, call: Call, headers: Record<string, string>): Promise<Answer> {
  return readAnswer(await send(s.stack.api, { method: call.method, path: pathOf(call), headers, ...(call.body !== undefined && { body: call.body }) }));
}

beforeAll(async () => {
  stage = await startHostileStack({ requireSignature: true });
  // One real job, signed as a client signs it, for a real signed download URL to tamper with.
  const submit: Call = { method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: stage.repo, format: 'zip' }) };
  const accepted = await send(stage.stack.api, { method: 'POST', path: '/jobs', headers: sign(stage, submit), body: submit.body });
  const { jobId } = JSON.parse(accepted.body) as { jobId: string };
  const done = await waitFor(async () => {
    const poll: Call = { method: 'GET', path: `/jobs/${jobId}` };
    const state = JSON.parse((await send(stage.stack.api, { path: poll.path, headers: sign(stage, poll) })).body) as Record<string, unknown>;
    return state.status === 'done' || state.status === 'error' ? state : undefined;
  }, 60_000, `job ${jobId}`);
  if (typeof done.url !== 'string') throw new Error(`the job did not finish: ${JSON.stringify(done)}`);
  target = { s: stage, download: done.url, jobId };
});
afterAll(() => stage?.close());

const UNKNOWN_JOB: Call = { method: 'GET', path: '/jobs/job-hostile-0001' };
const JOB: Call = { method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body: '{"url":"https://github.com/a/b"}' };
const MINUTES = 60_000;

/** A row that signs `call`, lets `tamper` change the request, and sends it. */
function gatewayRow(
  name: string,
  call: Call,
  tamper: (headers: Record<string, string>, call: Call, s: HostileStack) => { headers: Record<string, string>; call?: Call },
  message: RegExp,
  status = 400,
  code = 'UNAUTHORIZED',
): Row<Target> {
  return {
    name,
    async send({ s }) {
      const changed = tamper(sign(s, call), call, s);
      return sendCall(s, changed.call ?? call, changed.headers);
    },
    status,
    code,
    message,
  };
}

/** The download URL with `change` applied to it, fetched with `method`. */
function downloadRow(name: string, change: (url: URL, t: Target) => void, status: number, code: string, message: RegExp, method = 'GET'): Row<Target> {
  return {
    name,
    async send(t) {
      const url = new URL(t.download);
      change(url, t);
      return readAnswer(await send(url.origin, { method, path: `${url.pathname}${url.search}`, ...(method === 'PUT' && { body: 'overwritten', headers: { 'content-type': 'text/html' } }) }));
    },
    status,
    code,
    message,
  };
}

/** FC's InvokeFunction (how the worker dispatches job events), signed and then changed by `tamper`. */
function invokeRow(name: string, tamper: (headers: Record<string, string>, s: HostileStack) => { headers: Record<string, string>; body?: string; functionName?: string }, status: number, code: string, message: RegExp): Row<Target> {
  return {
    name,
    async send({ s }) {
      const body = '{"type":"job","spec":"{}","signature":"x"}';
      const url = new URL(`${s.stack.fc}/2023-03-30/functions/ferry/invocations`);
      const signed = signAcs3({ method: 'POST', url, action: 'InvokeFunction', version: '2023-03-30', headers: { 'x-fc-invocation-type': 'Async', 'content-type': 'application/octet-stream' }, body, credentials: s.credentials.accessKey });
      delete signed.host;
      const changed = tamper(signed, s);
      const path = `/2023-03-30/functions/${changed.functionName ?? 'ferry'}/invocations`;
      return readAnswer(await send(s.stack.fc, { method: 'POST', path, headers: changed.headers, body: changed.body ?? body }));
    },
    status,
    code,
    message,
  };
}

const SIGNATURE = /Invalid Signature, Server StringToSign:/;
const SIGNED_URL = /The request signature we calculated does not match/;

const rows: Row<Target>[] = [
  // API Gateway's APP signature
  { name: 'no signature at all', send: ({ s }) => sendCall(s, JOB, { 'content-type': 'application/json' }), status: 400, code: 'UNAUTHORIZED', message: /Invalid AppKey/ },
  gatewayRow('an unknown app key', JOB, (h) => ({ headers: { ...h, 'x-ca-key': 'someone-else' } }), /Invalid AppKey/),
  { name: 'signed with a guessed secret', send: ({ s }) => sendCall(s, JOB, sign(s, JOB, { secret: 'guessed-secret-0123456789' })), status: 400, code: 'UNAUTHORIZED', message: SIGNATURE },
  gatewayRow('the signature left out', JOB, (h) => ({ headers: { ...h, 'x-ca-signature': '' } }), /Empty Signature/, 404),
  gatewayRow('HmacMD5 asked for', JOB, (h) => ({ headers: { ...h, 'x-ca-signature-method': 'HmacMD5' } }), /HmacMD5 unsupported/),
  {
    name: 'a replayed nonce',
    async send({ s }) {
      const headers = sign(s, UNKNOWN_JOB);
      const first = await sendCall(s, UNKNOWN_JOB, headers);
      if (first.code !== 'JOB_NOT_FOUND') return first;
      return sendCall(s, UNKNOWN_JOB, headers);
    },
    status: 400,
    code: 'UNAUTHORIZED',
    message: /Nonce Used/,
  },
  {
    name: 'a replayed nonce with a fresh timestamp',
    async send({ s }) {
      const nonce = `replay-${Date.now()}`;
      const first = await sendCall(s, UNKNOWN_JOB, sign(s, UNKNOWN_JOB, { nonce }));
      if (first.code !== 'JOB_NOT_FOUND') return first;
      return sendCall(s, UNKNOWN_JOB, sign(s, UNKNOWN_JOB, { nonce, now: Date.now() + 1000 }));
    },
    status: 400,
    code: 'UNAUTHORIZED',
    message: /Nonce Used/,
  },
  { name: 'a timestamp 16 minutes old', send: ({ s }) => sendCall(s, JOB, sign(s, JOB, { now: Date.now() - 16 * MINUTES })), status: 400, code: 'UNAUTHORIZED', message: /Timestamp Expired/ },
  { name: 'a timestamp 16 minutes ahead', send: ({ s }) => sendCall(s, JOB, sign(s, JOB, { now: Date.now() + 16 * MINUTES })), status: 400, code: 'UNAUTHORIZED', message: /Timestamp Expired/ },
  { name: 'a timestamp in seconds', send: ({ s }) => sendCall(s, JOB, sign(s, JOB, { now: Math.floor(Date.now() / 1000) })), status: 400, code: 'UNAUTHORIZED', message: /Timestamp Expired/ },
  gatewayRow('a timestamp that is no number', JOB, (h) => ({ headers: { ...h, 'x-ca-timestamp': '1e12' } }), /Invalid Timestamp/),
  gatewayRow('no timestamp', JOB, (h) => ({ headers: Object.fromEntries(Object.entries(h).filter(([name]) => name !== 'x-ca-timestamp')) }), /X-Ca-Timestamp` is Required/),
  gatewayRow('no nonce', JOB, (h) => ({ headers: Object.fromEntries(Object.entries(h).filter(([name]) => name !== 'x-ca-nonce')) }), /X-Ca-Nonce` is Required/),
  gatewayRow('the timestamp moved after signing', JOB, (h) => ({ headers: { ...h, 'x-ca-timestamp': String(Number(h['x-ca-timestamp']) + 1) } }), SIGNATURE),
  // API Gateway's text names no signature here, so clients read it as BAD_REQUEST.
  gatewayRow('the body changed after signing', JOB, (h, call) => ({ headers: h, call: { ...call, body: '{"url":"http://100.100.100.200/a/b"}' } }), /Invalid Content-MD5/, 400, 'BAD_REQUEST'),
  gatewayRow('the body and its Content-MD5 changed', JOB, (h, call) => {
    const body = '{"url":"http://100.100.100.200/a/b"}';
    return { headers: { ...h, 'content-md5': sign(stage, { ...call, body })['content-md5'] as string }, call: { ...call, body } };
  }, SIGNATURE),
  gatewayRow('the path changed after signing', UNKNOWN_JOB, (h, call) => ({ headers: h, call: { ...call, path: '/jobs/job-hostile-0002' } }), SIGNATURE),
  gatewayRow('a query changed after signing', { method: 'GET', path: '/refs', query: { url: 'https://github.com/a/b' } }, (h, call) => ({ headers: h, call: { ...call, query: { url: 'http://100.100.100.200/a/b' } } }), SIGNATURE),
  gatewayRow('a device id added unsigned', JOB, (h) => ({ headers: { ...h, 'x-ca-deviceid': 'victim' } }), /must include x-ca-deviceid/),
  gatewayRow('a NOTIFY signed with a guessed secret', { method: 'POST', path: '/notify', headers: { 'content-type': 'application/json', 'x-ca-deviceid': 'victim' }, body: '{"v":1}' }, (_signed, call, s) => ({ headers: sign(s, call, { secret: 'guessed-secret-0123456789' }) }), SIGNATURE),
  {
    name: 'a signed frame replayed on the websocket',
    async send({ s }) {
      const frame = encodeRequest(UNKNOWN_JOB, '1', new URL(s.stack.api).host, (req) => signRequest(req, s.credentials));
      const ws = new WebSocket(s.stack.gateway);
      const answers: string[] = [];
      ws.on('message', (data) => answers.push(String(data)));
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      try {
        ws.send(frame);
        ws.send(frame);
        await waitFor(() => answers.length >= 2, 10_000, 'two answers');
        // The refusal needs no backend, so it may come back first: the one that is not the worker's 404.
        const read = answers.map(readFrame);
        return read.find((answer) => answer.code !== 'JOB_NOT_FOUND') ?? (read[0] as Answer);
      } finally {
        ws.terminate();
      }
    },
    status: 400,
    code: 'UNAUTHORIZED',
    message: /Nonce Used/,
  },
  // OSS signed download URLs: another object, longer, as a web page, another method
  downloadRow('the signature changed', (url) => url.searchParams.set('x-oss-signature', `${url.searchParams.get('x-oss-signature')?.slice(0, -4)}0000`), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('the signature removed', (url) => url.searchParams.delete('x-oss-signature'), 403, 'AccessDenied', /needs x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature/),
  downloadRow('every parameter removed', (url) => (url.search = ''), 403, 'AccessDenied', /Anonymous access is not allowed/),
  downloadRow('the job record read with the archive\'s signature', (url, t) => (url.pathname = `/ferry/jobs/${t.jobId}.json`), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('another object read with the signature', (url) => (url.pathname = `${url.pathname}.sha256`), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('another bucket', (url) => (url.pathname = url.pathname.replace(/^\/ferry\//, '/other/')), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('the expiry lengthened', (url) => url.searchParams.set('x-oss-expires', String(Number(url.searchParams.get('x-oss-expires')) + 3600)), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('the expiry beyond 7 days', (url) => url.searchParams.set('x-oss-expires', '999999999'), 400, 'InvalidArgument', /x-oss-expires must be 1\.\.604800 seconds/),
  downloadRow('dated in 2020 (expired)', (url) => url.searchParams.set('x-oss-date', '20200101T000000Z'), 403, 'AccessDenied', /Request has expired/),
  downloadRow('dated a day ahead', (url) => url.searchParams.set('x-oss-date', new Date(Date.now() + 24 * 60 * MINUTES).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')), 403, 'RequestTimeTooSkewed', /in the future/),
  downloadRow('another AccessKey id in the credential', (url) => url.searchParams.set('x-oss-credential', (url.searchParams.get('x-oss-credential') ?? '').replace(/^[^/]+/, 'LTAIsomeoneelse')), 403, 'InvalidAccessKeyId', /does not exist/),
  downloadRow('served as a web page (response-content-type)', (url) => url.searchParams.set('response-content-type', 'text/html'), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('renamed on download (response-content-disposition)', (url) => url.searchParams.set('response-content-disposition', 'attachment; filename="invoice.exe"'), 403, 'SignatureDoesNotMatch', SIGNED_URL),
  downloadRow('a V1 signature', (url) => (url.search = '?OSSAccessKeyId=LTAIx&Expires=9999999999&Signature=abc'), 403, 'AccessDenied', /V1 signed URLs .* are not supported/),
  downloadRow('overwritten with PUT', () => {}, 403, 'SignatureDoesNotMatch', SIGNED_URL, 'PUT'),
  downloadRow('deleted with DELETE', () => {}, 403, 'SignatureDoesNotMatch', SIGNED_URL, 'DELETE'),
  // FC's InvokeFunction: the route job events take
  invokeRow('an unsigned invocation', () => ({ headers: { 'x-fc-invocation-type': 'Async', 'content-type': 'application/octet-stream' } }), 401, 'MissingAuthorization', /no ACS3-HMAC-SHA256 Authorization header/),
  invokeRow('an invocation with its body changed', (h) => ({ headers: h, body: '{"type":"job","spec":"{}","signature":"y"}' }), 403, 'ContentSha256Mismatch', /not the SHA-256 of the body/),
  invokeRow('an invocation signed by another key', (h) => ({ headers: { ...h, authorization: (h.authorization ?? '').replace(/Credential=[^,]+/, 'Credential=LTAIsomeoneelse') } }), 403, 'InvalidAccessKeyId.NotFound', /is not known/),
  invokeRow('an invocation with its date moved', (h) => ({ headers: { ...h, 'x-acs-date': new Date(Date.now() - 20 * MINUTES).toISOString().replace(/\.\d+Z$/, 'Z') } }), 403, 'InvalidTimeStamp.Expired', /more than 15 minutes/),
  invokeRow('an invocation of another function', (h) => ({ headers: h, functionName: 'other' }), 404, 'FunctionNotFound', /does not exist/),
];

hostileTable('hostile signatures', rows, () => ({ ...stage.stage(), target }));
