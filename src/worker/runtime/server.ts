import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { ApiHandler, RequestContext } from '../api/context.js';
import { json, problem } from '../api/http.js';
import { GATEWAY_SECRET_HEADER } from '../../protocol/apigw-event.js';
import { FerryError } from '../../protocol/errors.js';
import { findDuplicateKey } from '../../util/json-duplicate-keys.js';
import { safeEqual } from '../../util/safe-equal.js';
import { decodeJobEvent, isJobEvent } from '../jobs/job-event.js';
import { refusedWhileStopping } from '../jobs/stopping.js';
import { stateToJSON, type JobSpec, type JobState } from '../../protocol/job.js';
import type { Credentials } from '../../protocol/credentials.js';
import { invocationCredentials } from './credentials.js';
import type { Drainer } from './drain.js';
import { eventHeader, eventToRequest, isApiGatewayEvent, responseToResult } from './events.js';
import { failedJob, isFailureEvent } from './failure-event.js';
import { readRequestBody, sendResponse, toRequest } from './node-http.js';

export interface RuntimeOptions {
  api: ApiHandler;
  runJob(spec: JobSpec, credentials: Credentials | undefined): Promise<JobState>;
  /** The job's event failed on every attempt (FC's on-failure destination): ends it as WORKER_LOST. */
  jobFailed?(spec: JobSpec, credentials: Credentials | undefined, detail: string): Promise<JobState>;
  /** Run on POST /initialize with its credentials; must not throw. */
  warmUp?(credentials: Credentials | undefined): Promise<void>;
  /** Required in API-gateway events' `x-ferry-gateway-secret` header, when set. */
  gatewaySecret?: string | undefined;
  /** Verifies job events; without one, job events are refused. */
  dispatchSecret: string | undefined;
  /** Serve the API on HTTP-trigger paths. Off in production, where clients come through API Gateway events. */
  httpApi: boolean;
  /** Ends this instance's jobs on `GET /pre-stop` (FC's PreStop hook); without one, /pre-stop only answers 200. */
  drainer?: Drainer | undefined;
  preStopGraceMs?: number | undefined;
  log(line: string): void;
}

// Well inside the 10 s between the default grace (50 s) and a 60 s PreStop timeout.
const PRE_STOP_CLEANUP_MS = 8000;
const DEFAULT_PRE_STOP_GRACE_MS = 50_000;

const WARM_UP_WAIT_MS = 2000;

// FC limits a synchronous event to 32 MB; our events are a few KB, so refuse anything large early.
const MAX_EVENT_BYTES = 1024 * 1024;

// FC's custom-runtime contract: `POST /initialize` once, `POST /invoke` per event, other paths as an HTTP trigger.
export function createRuntimeServer(options: RuntimeOptions): Server {
  return createServer((req, res) => {
    const requestId = header(req, 'x-fc-request-id') ?? randomUUID();
    const context: RequestContext = { credentials: invocationCredentials(req.headers), requestId };
    const path = triggerPath(req);
    const isInvoke = (req.method === 'POST' && (path === '/invoke' || path === '/initialize')) || (req.method === 'GET' && path === '/pre-stop');
    if (isInvoke) options.log(`FC Invoke Start RequestId: ${requestId}`);
    handle(req, path, context, options)
      .catch((error: unknown) => {
        if (!(error instanceof FerryError)) options.log(`runtime ${req.method} ${path}: ${(error as Error)?.stack ?? String(error)}`);
        return problem(error);
      })
      .then(async (response) => {
        await sendResponse(res, withRequestId(response, requestId));
        if (!req.complete) drainRest(req);
      })
      .catch(() => res.destroy())
      .finally(() => {
        if (isInvoke) options.log(`FC Invoke End RequestId: ${requestId}`);
      });
  });
}

async function handle(req: IncomingMessage, path: string, context: RequestContext, options: RuntimeOptions): Promise<Response> {
  if (req.method === 'POST' && path === '/initialize') {
    await readRequestBody(req, MAX_EVENT_BYTES);
    // The warm-up gets a short head start, then goes on in the background: a slow OSS endpoint must never
    // make FC report an initialisation failure (InitializationTimeout, 10 s in our deploy files).
    const warming = options.warmUp?.(context.credentials);
    if (warming) await Promise.race([warming, new Promise((resolve) => setTimeout(resolve, WARM_UP_WAIT_MS).unref())]);
    return new Response(null, { status: 200 });
  }
  if (req.method === 'GET' && path === '/pre-stop') {
    // FC's PreStop hook: the instance is about to be reclaimed. A second call finds nothing left to do.
    const budget = { graceMs: options.preStopGraceMs ?? DEFAULT_PRE_STOP_GRACE_MS, cleanupMs: PRE_STOP_CLEANUP_MS };
    return json({ ok: true, ...(await options.drainer?.drain(budget)) });
  }
  if (req.method !== 'POST' || path !== '/invoke') {
    if (!options.httpApi && path !== '/healthz') {
      throw new FerryError('NOT_FOUND', 'This function serves its API through API Gateway only.');
    }
    return callApi(toRequest(req, path), context, options);
  }

  let event: unknown;
  const eventText = (await readRequestBody(req, MAX_EVENT_BYTES)).toString('utf8');
  try {
    event = JSON.parse(eventText);
  } catch {
    throw new FerryError('BAD_REQUEST', 'The invocation event must be JSON: an API-gateway event or a job event.');
  }
  // Two `headers` (or two gateway-secret headers) would let the event be read two ways: refused like a body.
  const duplicate = findDuplicateKey(eventText);
  if (duplicate) throw new FerryError('BAD_REQUEST', `The invocation event names ${JSON.stringify(duplicate.key).slice(0, 60)} twice (in ${duplicate.path.slice(0, 100)}).`);
  if (isJobEvent(event)) {
    if (!options.dispatchSecret) {
      throw new FerryError('UNAUTHORIZED', 'Job events are refused: this worker has no FERRY_DISPATCH_SECRET.');
    }
    const spec = decodeJobEvent(event, options.dispatchSecret);
    if (options.drainer?.stopping) return failedInvocation(refusedWhileStopping().toJSON());
    const state = await options.runJob(spec, context.credentials);
    // Stopped by this instance's shutdown: a failed invocation, so FC's async retry runs it elsewhere.
    if (state.error?.code === 'WORKER_STOPPING') return failedInvocation(stateToJSON(state));
    return json(stateToJSON(state));
  }
  if (isFailureEvent(event)) {
    const failed = failedJob(event);
    // A failed API-gateway event was a request whose caller got its answer (or a timeout) long ago.
    if (!failed) return json({ ok: true, recorded: false });
    if (!options.dispatchSecret) throw new FerryError('UNAUTHORIZED', 'Job events are refused: this worker has no FERRY_DISPATCH_SECRET.');
    const spec = decodeJobEvent(failed.job, options.dispatchSecret);
    // Always 200: a failing destination invocation must not start a loop of its own; readers find the
    // job lost by its heartbeat anyway.
    const state = await options.jobFailed?.(spec, context.credentials, failed.detail).catch((error: unknown) => {
      options.log(`job ${spec.jobId}: recording WORKER_LOST failed: ${String(error)}`);
      return undefined;
    });
    return json({ ok: true, recorded: state !== undefined, ...(state && { jobId: state.jobId, status: state.status }) });
  }
  if (isApiGatewayEvent(event)) {
    if (options.gatewaySecret && !safeEqual(eventHeader(event, GATEWAY_SECRET_HEADER) ?? '', options.gatewaySecret)) {
      throw new FerryError('UNAUTHORIZED', 'API-gateway events are refused without the gateway secret: call the API through API Gateway.');
    }
    const response = await callApi(eventToRequest(event), context, options);
    return json(await responseToResult(response));
  }
  throw new FerryError('BAD_REQUEST', 'Unknown event: expected an API-gateway trigger event, {"type":"job",...} or an async failure destination event.');
}

async function callApi(request: Request, context: RequestContext, options: RuntimeOptions): Promise<Response> {
  if (options.drainer?.stopping && request.method === 'POST' && new URL(request.url).pathname === '/jobs') {
    return problem(refusedWhileStopping());
  }
  return options.api(request, context);
}

// `x-fc-status: 404` is how a custom runtime reports a function error: FC retries a failed async
// invocation, by default 3 times.
function failedInvocation(body: unknown): Response {
  return json(body, 503, { 'x-fc-status': '404' });
}

// A refused body (413) is read and dropped up to this much, so the client can finish sending and the
// connection stays usable; beyond it the connection is cut.
const DRAIN_LIMIT = 1024 * 1024;

function drainRest(req: IncomingMessage): void {
  let drained = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_LIMIT) req.destroy();
  });
  req.resume();
}

function withRequestId(response: Response, requestId: string): Response {
  const headers = new Headers(response.headers);
  headers.set('x-fc-request-id', requestId);
  return new Response(response.body, { status: response.status, headers });
}

// FC 2.0's default trigger URLs arrive prefixed with `/2016-08-15/proxy/<service>/<function>`, announced
// in `x-fc-base-path`; FC 3.0 passes paths as-is.
function triggerPath(req: IncomingMessage): string {
  const path = (req.url ?? '/').split('?')[0] || '/';
  const base = header(req, 'x-fc-base-path')?.replace(/\/+$/, '');
  if (base && (path === base || path.startsWith(`${base}/`))) return path.slice(base.length) || '/';
  return path;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) || undefined;
}
