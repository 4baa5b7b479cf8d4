// Hostile websocket frames at the real local stack's gateway (src/local/gateway/frames.ts parses them): bad
// registrations, frames that are not the protocol, API frames with every field of the wrong shape, binary and
// oversized frames, floods, and job requests that name another connection's device. Each row opens its own
// connection, so no row sees another's state.
import { afterAll, beforeAll } from 'vitest';
import { WebSocket } from 'ws';
import { encodeRequest } from '../../src/protocol/gateway-frames.js';
import type { ApiRequest } from '../../src/protocol/gateway-types.js';
import { hostileTable, readFrame, type Answer, type Row } from './_table.js';
import { startHostileStack, type HostileStack } from './_stack.js';

let stage: HostileStack;
beforeAll(async () => {
  stage = await startHostileStack();
});
afterAll(() => stage?.close());

let devices = 0;
const freshDevice = (): string => `hostile-${process.pid}-${++devices}`;

/** A connection that hands out the gateway's frames one at a time, and its close as the last. */
async function open(s: HostileStack): Promise<{ ws: WebSocket; next(): Promise<Answer> }> {
  const ws = new WebSocket(s.stack.gateway);
  const queue: Answer[] = [];
  const waiting: Array<(answer: Answer) => void> = [];
  const push = (answer: Answer): void => {
    const waiter = waiting.shift();
    if (waiter) waiter(answer);
    else queue.push(answer);
  };
  ws.on('message', (data) => push(readFrame(String(data))));
  ws.on('close', (code, reason) => push({ status: code, code: 'CLOSED', message: reason.toString() || `closed with ${code}`, shape: 'close', text: reason.toString() }));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, next: () => new Promise((resolve) => (queue.length > 0 ? resolve(queue.shift() as Answer) : waiting.push(resolve))) };
}

/**
 * Sends `frames` on a fresh connection (registered as a fresh device first when `register`), and answers with the
 * first thing the gateway sends back that is not a heartbeat answer or a flow-control word (OS: the row says so).
 */
function exchange(frames: (s: HostileStack) => Array<string | Buffer>, options: { register?: boolean; skipOs?: boolean } = {}) {
  return async (s: HostileStack): Promise<Answer> => {
    const connection = await open(s);
    try {
      if (options.register) {
        connection.ws.send(`RG#${freshDevice()}`);
        const registered = await connection.next();
        if (!registered.text.startsWith('RO#')) return registered;
      }
      for (const frame of frames(s)) connection.ws.send(frame);
      for (;;) {
        const answer = await connection.next();
        if (answer.text.startsWith('HO#') || (options.skipOs && answer.text === 'OS')) continue;
        return answer;
      }
    } finally {
      connection.ws.terminate();
    }
  };
}

const host = (s: HostileStack): string => new URL(s.stack.api).host;
/** An API frame as clients encode it, with `fields` laid over it. */
const apiFrame = (s: HostileStack, fields: Record<string, unknown>, req: ApiRequest = { method: 'POST', path: '/jobs', body: '{}', headers: { 'content-type': 'application/json' } }): string =>
  JSON.stringify({ ...(JSON.parse(encodeRequest(req, '1', host(s), undefined)) as Record<string, unknown>), ...fields });
const jobFrame = (s: HostileStack, body: string, headers: Record<string, string> = {}): string =>
  encodeRequest({ method: 'POST', path: '/jobs', body, headers: { 'content-type': 'application/json', ...headers } }, '1', host(s), undefined);

const DEVICE = /Invalid DeviceId: expected 1-128 characters of/;

const rows: Row<HostileStack>[] = [
  // Registration
  { name: 'RG# with a space', send: exchange(() => ['RG#a b']), status: 400, code: 'GATEWAY_REFUSED', message: DEVICE },
  { name: 'RG# with nothing', send: exchange(() => ['RG#']), status: 400, code: 'GATEWAY_REFUSED', message: DEVICE },
  { name: 'RG# of 129 characters', send: exchange(() => [`RG#${'d'.repeat(129)}`]), status: 400, code: 'GATEWAY_REFUSED', message: DEVICE },
  { name: 'RG# with a #', send: exchange(() => ['RG#a#b']), status: 400, code: 'GATEWAY_REFUSED', message: DEVICE },
  { name: 'RG# with a newline', send: exchange(() => ['RG#dev\nNF#{}']), status: 400, code: 'GATEWAY_REFUSED', message: DEVICE },
  { name: 'RG# in another script', send: exchange(() => ['RG#устройство']), status: 400, code: 'GATEWAY_REFUSED', message: DEVICE },
  {
    name: "RG# of another connection's device",
    async send(s) {
      const owner = await open(s);
      try {
        const id = freshDevice();
        owner.ws.send(`RG#${id}`);
        await owner.next();
        return await exchange(() => [`RG#${id}`])(s);
      } finally {
        owner.ws.terminate();
      }
    },
    status: 502,
    code: 'GATEWAY_UNREACHABLE',
    message: /Device Id In Use/,
  },
  { name: 'RG# again as another device', send: exchange(() => [`RG#${freshDevice()}`], { register: true }), status: 400, code: 'GATEWAY_REFUSED', message: /already registered as another device/ },
  { name: 'REGISTER without RG#', send: exchange((s) => [apiFrame(s, {}, { method: 'POST', path: '/register', body: '{}', headers: { 'content-type': 'application/json', 'x-ca-websocket_api_type': 'REGISTER' } })]), status: 400, code: 'BAD_REQUEST', message: /needs a websocket connection that sent RG#/ },
  // Frames that are not the protocol
  { name: 'a word that is no frame', send: exchange(() => ['HELLO']), status: 400, code: 'BAD_REQUEST', message: /Unknown frame: expected RG#, H1, NO or a JSON API request/ },
  { name: 'an HTTP request line', send: exchange(() => ['GET /jobs HTTP/1.1']), status: 400, code: 'BAD_REQUEST', message: /Unknown frame/ },
  { name: 'truncated JSON', send: exchange(() => ['{"method":"POST"']), status: 400, code: 'BAD_REQUEST', message: /frame is not valid JSON/ },
  { name: 'a JSON array', send: exchange(() => ['[1,2]']), status: 400, code: 'BAD_REQUEST', message: /Unknown frame/ },
  { name: 'a binary frame', send: exchange(() => [Buffer.from([0x7b, 0x7d, 0xff])]), status: 400, code: 'BAD_REQUEST', message: /send text frames/ },
  // API frames with a field of the wrong shape
  { name: 'no method', send: exchange((s) => [apiFrame(s, { method: undefined })]), status: 400, code: 'BAD_REQUEST', message: /Invalid HttpMethod/ },
  { name: 'a method with spaces', send: exchange((s) => [apiFrame(s, { method: 'POST /admin' })]), status: 400, code: 'BAD_REQUEST', message: /Invalid HttpMethod/ },
  { name: 'a relative path', send: exchange((s) => [apiFrame(s, { path: 'jobs' })]), status: 400, code: 'BAD_REQUEST', message: /`path` must start with "\/"/ },
  { name: 'a path as a number', send: exchange((s) => [apiFrame(s, { path: 7 })]), status: 400, code: 'BAD_REQUEST', message: /`path` must start with "\/"/ },
  { name: 'headers as a string', send: exchange((s) => [apiFrame(s, { headers: 'x-ca-seq: 1' })]), status: 400, code: 'BAD_REQUEST', message: /`headers` must map names to string arrays/ },
  { name: 'a header holding an object', send: exchange((s) => [apiFrame(s, { headers: { 'x-ca-seq': ['1'], 'content-type': [{ $gt: '' }] } })]), status: 400, code: 'BAD_REQUEST', message: /`headers` must map names to string arrays/ },
  { name: 'querys as a list', send: exchange((s) => [apiFrame(s, { querys: ['url', 'x'] })]), status: 400, code: 'BAD_REQUEST', message: /`querys` must be an object/ },
  { name: 'a query holding an object', send: exchange((s) => [apiFrame(s, { querys: { url: { toString: 'x' } } })]), status: 400, code: 'BAD_REQUEST', message: /query `url` must be a string/ },
  { name: 'a body as an object', send: exchange((s) => [apiFrame(s, { body: { url: s.repo } })]), status: 400, code: 'BAD_REQUEST', message: /`body` must be a string/ },
  { name: 'a base64 body that is not base64', send: exchange((s) => [apiFrame(s, { isBase64: 1, body: '{"url":"x"}' })]), status: 400, code: 'BAD_REQUEST', message: /`body` is not base64/ },
  { name: 'an API the gateway does not have', send: exchange((s) => [apiFrame(s, { path: '/admin' })]), status: 404, code: 'NOT_FOUND', message: /Invalid Url/ },
  // Job requests over the websocket: the worker's checks, and the device binding
  { name: 'a job body with a duplicate url', send: exchange((s) => [jobFrame(s, `{"url":"file:///etc/passwd","url":"${s.repo}"}`)]), status: 400, code: 'INVALID_JSON', message: /"url" twice/ },
  { name: 'a job for the metadata service', send: exchange((s) => [jobFrame(s, '{"url":"http://100.100.100.200/latest/meta-data"}')]), status: 403, code: 'HOST_NOT_ALLOWED', message: /not served here/ },
  { name: "a job naming another connection's device", send: exchange((s) => [jobFrame(s, JSON.stringify({ url: s.repo, deviceId: 'victim-device' }))], { register: true }), status: 400, code: 'INVALID_DEVICE_ID', message: /"victim-device" is not the device of the connection/ },
  {
    name: 'a job naming another device in the header and the body',
    send: exchange((s) => [jobFrame(s, JSON.stringify({ url: s.repo, deviceId: 'victim-device' }), { 'x-ca-deviceid': 'victim-device' })], { register: true }),
    status: 400,
    code: 'INVALID_DEVICE_ID',
    message: /is not the device of the connection/,
  },
  // Size and rate: `ws` closes an oversized frame's connection with 1009 (Message Too Big) and no reason text
  { name: 'a frame over 1 MiB', send: exchange(() => [`{"body":"${'a'.repeat(1024 * 1024 + 16)}"}`]), status: 1009, code: 'CLOSED', message: /1009/ },
  { name: 'a flood of 1000 frames', send: exchange(() => Array.from({ length: 1000 }, () => 'H1'), { skipOs: true }), status: 1008, code: 'CLOSED', message: /message rate exceeded/ },
];

hostileTable('hostile websocket frames', rows, () => stage.stage());
