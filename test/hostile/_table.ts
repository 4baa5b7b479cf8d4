/**
 * The hostile-input table's runner (issue 13): each row sends one hostile input to a real running part and names
 * the status and code it must be refused with. Every row also checks, whatever it sends:
 *   - the answer carries a code and a message that is not empty (and, where the row says, names what to change);
 *   - no git request reached the git server while it ran, unless the row needs the repository's answer (`asksGit`);
 *   - no configured secret is anywhere in the answer, headers included.
 * After the last row the table checks that the stack still answers (nothing crashed or wedged).
 *
 * Answers come in the shape of whoever refused the input, read as the project's clients read them:
 *   - `json`: the worker's (and the local gateway's HTTP edge's) `{code, message}`;
 *   - `gateway`: API Gateway's own refusals (a bad signature, an unknown API, a throttle) have no body, only
 *     X-Ca-Error-Message, as Alibaba Cloud's gateway answers; the code is the one the CLI and the page derive from it
 *     (`gatewayCode` in src/protocol/job-messages.ts);
 *   - `oss`: the object store's XML `<Error><Code>…<Message>…`, as OSS answers;
 *   - `fc`: the FC emulator's OpenAPI `{Code, Message, RequestId}`, as Function Compute answers;
 *   - `frame`: a websocket `RF#<reason>`, which clients report as GATEWAY_REFUSED; `close`: the socket closed, the
 *     status is the close code;
 *   - `job`: a job accepted and then failed (a redirect to a forbidden host is only seen when it is followed): the
 *     job's final `{code, message}`, the status that code carries.
 */
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { CLIENT_ERROR_STATUS, WORKER_ERROR_STATUS } from '../../src/protocol/errors.js';
import { gatewayCode } from '../../src/protocol/job-messages.js';

export type Shape = 'json' | 'gateway' | 'oss' | 'fc' | 'frame' | 'close' | 'job' | 'none';

export interface Answer {
  status: number;
  code: string | undefined;
  message: string;
  shape: Shape;
  /** Everything the answer carried (status line, headers, body), for the secret search. */
  text: string;
}

export interface Row<T> {
  name: string;
  send(target: T): Promise<Answer>;
  status: number;
  code: string;
  /** What the message must say, e.g. the field or the option to change. */
  message?: RegExp;
  /** The answer needs the repository (an unknown ref is only known upstream): the git server may be asked. */
  asksGit?: true;
}

export interface Stage<T> {
  target: T;
  /** Requests the git server has received so far. */
  gitRequests(): number;
  /** Every secret the stack was given, by name. */
  secrets: Record<string, string>;
  /** Throws unless the stack still answers an ordinary request. */
  alive(): Promise<void>;
}

/**
 * One `describe` with a test per row, run in order against `stage()` (set up by the file's beforeAll), then the
 * table-wide checks.
 */
export function hostileTable<T>(title: string, rows: readonly Row<T>[], stage: () => Stage<T>): void {
  const answers: Array<{ row: string; answer: Answer }> = [];
  describe(title, () => {
    it.each(rows.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
      const { target, gitRequests } = stage();
      const before = gitRequests();
      const answer = await row.send(target);
      answers.push({ row: row.name, answer });
      const seen = { status: answer.status, code: answer.code };
      expect(seen, `${row.name}: ${answer.shape} answer ${answer.text.slice(0, 400)}`).toEqual({ status: row.status, code: row.code });
      expect(answer.message.trim().length, 'a message saying what to change').toBeGreaterThan(5);
      if (row.message) expect(answer.message).toMatch(row.message);
      if (!row.asksGit) expect(gitRequests() - before, 'git requests caused by a refused input').toBe(0);
    });

    it('leaves no secret in any answer', () => {
      const { secrets } = stage();
      const leaks = Object.entries(secrets).flatMap(([name, value]) => answers.filter(({ answer }) => answer.text.includes(value)).map(({ row }) => `${name} in the answer to ${row}`));
      expect(leaks).toEqual([]);
    });

    it('keeps answering after the table', async () => {
      await stage().alive();
    });
  });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** An HTTP answer in whichever shape it came: worker JSON, FC's JSON, API Gateway's header, OSS XML. */
export function readAnswer(res: RawResponse): Answer {
  const text = `${res.status}\n${Object.entries(res.headers).map(([name, value]) => `${name}: ${value}`).join('\n')}\n\n${res.body}`;
  const json = parseObject(res.body);
  if (json && typeof json.code === 'string') {
    return { status: res.status, code: json.code, message: typeof json.message === 'string' ? json.message : '', shape: 'json', text };
  }
  if (json && typeof json.Code === 'string') {
    return { status: res.status, code: json.Code, message: typeof json.Message === 'string' ? json.Message : '', shape: 'fc', text };
  }
  const gateway = res.headers['x-ca-error-message'];
  if (gateway !== undefined) return { status: res.status, code: gatewayCode(res.status, gateway), message: gateway, shape: 'gateway', text };
  const xml = /<Code>([^<]*)<\/Code>/.exec(res.body);
  if (xml) return { status: res.status, code: xml[1], message: /<Message>([^<]*)<\/Message>/.exec(res.body)?.[1] ?? '', shape: 'oss', text };
  return { status: res.status, code: undefined, message: '', shape: 'none', text };
}

/** A websocket frame the gateway sent back: `RF#<reason>`, or an API answer `{status, header, body}`. */
export function readFrame(frame: string): Answer {
  if (frame.startsWith('RF#')) {
    const reason = frame.slice(3);
    // As src/protocol/gateway-session.ts reports it: an id in use is worth retrying, any other reason is final.
    const code = reason === 'Device Id In Use' ? 'GATEWAY_UNREACHABLE' : 'GATEWAY_REFUSED';
    return { status: CLIENT_ERROR_STATUS[code], code, message: reason, shape: 'frame', text: frame };
  }
  const parsed = parseObject(frame);
  if (!parsed || typeof parsed.status !== 'number') return { status: 0, code: undefined, message: '', shape: 'none', text: frame };
  const headers: Record<string, string> = {};
  if (typeof parsed.header === 'object' && parsed.header !== null) {
    for (const [name, value] of Object.entries(parsed.header)) headers[name.toLowerCase()] = String(value);
  }
  const body = typeof parsed.body === 'string' ? (parsed.isBase64 === 1 ? Buffer.from(parsed.body, 'base64').toString('utf8') : parsed.body) : '';
  return { ...readAnswer({ status: parsed.status, headers, body }), text: frame };
}

/** A failed job's state, as `GET /jobs/<id>` answers it. */
export function readJobError(state: Record<string, unknown>): Answer {
  const code = typeof state.code === 'string' ? state.code : undefined;
  const status = code !== undefined && code in WORKER_ERROR_STATUS ? WORKER_ERROR_STATUS[code as keyof typeof WORKER_ERROR_STATUS] : 0;
  return { status: state.status === 'error' ? status : 0, code: state.status === 'error' ? code : `job ${String(state.status)}`, message: typeof state.message === 'string' ? state.message : '', shape: 'job', text: JSON.stringify(state) };
}

export interface SendOptions {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One HTTP request over node:http (which, unlike fetch, sends any Host or Origin a test names). */
export function send(base: string, options: SendOptions): Promise<RawResponse> {
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers = { ...(body && { 'content-length': String(body.length) }), ...options.headers };
  return new Promise((resolve, reject) => {
    const req = request(`${base}${options.path}`, { method: options.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const flat: Record<string, string> = {};
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
        resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** POST `body` (an object as JSON, a string as it is) as application/json, read as an Answer. */
export async function postJson(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return readAnswer(await send(base, { method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, body: text }));
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
