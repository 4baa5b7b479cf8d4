import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { BodyTooLargeError, readBody } from '../../util/body.js';
import { FC_API_VERSION, verifyAcs3, type Acs3Refusal } from '../../protocol/fc-signature.js';
import type { AsyncInvocationQueue, GaveUp } from './async-queue.js';
import { callRuntime, deliverOnce, type RuntimeCall } from './call.js';
import { fcHeaders, type FcContext } from './context.js';
import type { RuntimeSupervisor } from './supervisor.js';
import { isHopByHop, UpstreamTimeoutError } from './upstream.js';

export interface FrontDeps {
  context: FcContext;
  supervisor: RuntimeSupervisor;
  queue: AsyncInvocationQueue;
  /** FC's on-failure destination set to this same function: invoked with the failed event's context. */
  failureDestination?: boolean;
}

export const API_VERSION = FC_API_VERSION;
const INVOKE_PATH = new RegExp(`^/${API_VERSION}/functions/([^/]+)/invocations/?$`);

// FC caps synchronous payloads at 32 MB; async requests are buffered until delivered, so they
// get a tighter bound.
const SYNC_EVENT_LIMIT = 32 * 1024 * 1024;
const ASYNC_BODY_LIMIT = 1024 * 1024;

// FC's invoke API on `/2023-03-30/functions/:name/invocations`, an HTTP trigger on every other path.
export function createFront(deps: FrontDeps): http.Server {
  return http.createServer((req, res) => {
    const requestId = randomUUID();
    handle(deps, req, res, requestId).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) sendError(res, 413, 'PayloadTooLarge', `request body is larger than ${err.limit} bytes`, requestId, true);
      else sendError(res, 500, 'InternalError', (err as Error).message, requestId);
    });
  });
}

async function handle(deps: FrontDeps, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const pathname = new URL(req.url ?? '/', 'http://front').pathname;
  const isAsync = (req.headers['x-fc-invocation-type'] ?? '').toString().toLowerCase() === 'async';
  const match = INVOKE_PATH.exec(pathname);
  if (match) {
    const name = decodeURIComponent(match[1] ?? '');
    if (name !== deps.context.functionName) {
      return sendError(res, 404, 'FunctionNotFound', `function '${name}' does not exist (this emulator serves '${deps.context.functionName}')`, requestId);
    }
    if (req.method !== 'POST') return sendError(res, 405, 'MethodNotAllowed', `use POST to invoke, not ${req.method}`, requestId);
    const event = await readRequestBody(req, isAsync ? ASYNC_BODY_LIMIT : SYNC_EVENT_LIMIT);
    const refusal = authenticate(deps.context, req, event);
    if (refusal) return sendError(res, refusal.status, refusal.code, refusal.message, requestId);
    const call: RuntimeCall = {
      method: 'POST',
      path: '/invoke',
      headers: { ...fcHeaders(deps.context, requestId), 'content-type': 'application/octet-stream', 'content-length': String(event.length) },
      body: event,
    };
    if (isAsync) return accept(deps, res, requestId, call, deps.failureDestination ? (outcome) => toDestination(deps, requestId, event, outcome) : undefined);
    return forward(deps, res, requestId, call);
  }

  // HTTP trigger: the request goes to the runtime as it came, plus FC's own headers.
  const headers = triggerHeaders(deps.context, req, requestId);
  const call: RuntimeCall = { method: req.method ?? 'GET', path: req.url ?? '/', headers };
  if (isAsync) {
    const body = await readRequestBody(req, ASYNC_BODY_LIMIT);
    headers['content-length'] = String(body.length);
    return accept(deps, res, requestId, { ...call, body });
  }
  return forward(deps, res, requestId, { ...call, body: req });
}

// Only requests signed (ACS3) with the key the runtime gets, as FC takes only the account's keys.
// Without credentials there is nothing to check against: it is open.
function authenticate(ctx: FcContext, req: IncomingMessage, body: Buffer): Acs3Refusal | undefined {
  if (!ctx.credentials) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const url = new URL(req.url ?? '/', 'http://front');
  return verifyAcs3({ method: req.method ?? 'POST', url, headers, body, credentials: ctx.credentials });
}

function accept(deps: FrontDeps, res: ServerResponse, requestId: string, call: RuntimeCall, onGiveUp?: (outcome: GaveUp) => Promise<void>): void {
  deps.queue.enqueue(requestId, () => deliverOnce(deps.supervisor, call), onGiveUp);
  res.writeHead(202, { 'x-fc-request-id': requestId, 'content-length': '0' });
  res.end();
}

// What FC sends a function destination once an async invocation's retries are spent: the request's
// context and its original payload (a string), then what the last attempt answered.
async function toDestination(deps: FrontDeps, requestId: string, payload: Buffer, outcome: GaveUp): Promise<void> {
  const { context } = deps;
  const event = Buffer.from(
    JSON.stringify({
      timestamp: Date.now(),
      requestContext: {
        requestId,
        functionArn: `acs:fc:${context.region}:${context.accountId ?? '0'}:functions/${context.functionName}`,
        condition: 'RetriesExhausted',
        approximateInvokeCount: outcome.attempts,
      },
      requestPayload: payload.toString('utf8'),
      responseContext: { statusCode: outcome.status ?? 0, functionError: outcome.failure },
      responsePayload: '',
    }),
  );
  const destinationId = randomUUID();
  const status = await deliverOnce(deps.supervisor, {
    method: 'POST',
    path: '/invoke',
    headers: { ...fcHeaders(context, destinationId), 'content-type': 'application/octet-stream', 'content-length': String(event.length) },
    body: event,
  });
  if (status >= 300) throw new Error(`the destination invocation ${destinationId} answered ${status}`);
}

async function forward(deps: FrontDeps, res: ServerResponse, requestId: string, call: RuntimeCall): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let upstream: IncomingMessage;
  try {
    upstream = await callRuntime(deps.supervisor, { ...call, signal: abort.signal });
  } catch (err) {
    if (abort.signal.aborted) return;
    if (err instanceof UpstreamTimeoutError) return sendError(res, 504, 'FunctionTimeout', err.message, requestId);
    return sendError(res, 502, 'RuntimeUnavailable', `the function's runtime did not answer: ${(err as Error).message}`, requestId);
  }
  const headers: string[] = [];
  let hasRequestId = false;
  for (let i = 0; i + 1 < upstream.rawHeaders.length; i += 2) {
    const name = upstream.rawHeaders[i] ?? '';
    if (isHopByHop(name)) continue;
    if (name.toLowerCase() === 'x-fc-request-id') hasRequestId = true;
    headers.push(name, upstream.rawHeaders[i + 1] ?? '');
  }
  if (!hasRequestId) headers.push('x-fc-request-id', requestId);
  res.writeHead(upstream.statusCode ?? 502, headers);
  // If the runtime dies mid-body, pipeline destroys `res`: the caller sees a cut response, as with FC.
  await pipeline(upstream, res).catch(() => undefined);
}

// `x-fc-*` belongs to FC: a caller cannot pass its own credentials or request id to the runtime.
function triggerHeaders(ctx: FcContext, req: IncomingMessage, requestId: string): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || isHopByHop(name) || name.startsWith('x-fc-')) continue;
    headers[name] = value;
  }
  return { ...headers, ...fcHeaders(ctx, requestId) };
}

/** The whole request body; a declared length over the limit fails before anything is read. */
function readRequestBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(new BodyTooLargeError(limit));
  return readBody(req, limit);
}

/** Errors in FC's shape (`Code`, `Message`, `RequestId`), so callers parse one format. */
function sendError(res: ServerResponse, status: number, code: string, message: string, requestId: string, closeConnection = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ Code: code, Message: message, RequestId: requestId });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-fc-request-id': requestId,
    ...(closeConnection ? { connection: 'close' } : {}),
  });
  res.end(body);
}
