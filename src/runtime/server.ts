import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { ApiHandler, RequestContext } from '../api/context.js';
import { json, problem } from '../api/http.js';
import { GATEWAY_SECRET_HEADER } from '../apigw.js';
import { FerryError } from '../errors.js';
import { safeEqual } from '../safe-equal.js';
import { decodeJobEvent, isJobEvent } from '../jobs/job-event.js';
import { stateToJSON, type JobSpec, type JobState } from '../jobs/types.js';
import type { OssCredentials } from '../config.js';
import { invocationCredentials } from './credentials.js';
import { eventHeader, eventToRequest, isApiGatewayEvent, responseToResult } from './events.js';
import { readBody, sendResponse, toRequest } from './node-http.js';

export interface RuntimeOptions {
  api: ApiHandler;
  runJob(spec: JobSpec, credentials: OssCredentials | undefined): Promise<JobState>;
  /** Run on POST /initialize with its credentials; must not throw. */
  warmUp?(credentials: OssCredentials | undefined): Promise<void>;
  /** Required in API-gateway events' `x-ferry-gateway-secret` header, when set. */
  gatewaySecret?: string | undefined;
  /** Verifies job events; without one, job events are refused. */
  dispatchSecret: string | undefined;
  /** Serve the API on HTTP-trigger paths. Off in production, where clients come through API Gateway events. */
  httpApi: boolean;
  log(line: string): void;
}

/** How long POST /initialize waits for the warm-up before answering anyway. */
const WARM_UP_WAIT_MS = 2000;

// FC limits a synchronous event to 32 MB; our events are a few KB, so refuse anything large early.
const MAX_EVENT_BYTES = 1024 * 1024;

/**
 * The FC custom-runtime contract on node:http: `POST /initialize` once per instance, `POST /invoke`
 * per event (API-gateway trigger events and job events), and any other path as an HTTP trigger.
 */
export function createRuntimeServer(options: RuntimeOptions): Server {
  return createServer((req, res) => {
    const requestId = header(req, 'x-fc-request-id') ?? randomUUID();
    const context: RequestContext = { credentials: invocationCredentials(req.headers), requestId };
    const path = triggerPath(req);
    const isInvoke = req.method === 'POST' && (path === '/invoke' || path === '/initialize');
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
    await readBody(req, MAX_EVENT_BYTES);
    // FC's initializer hook: this invocation carries the instance's first credentials. The warm-up gets
    // a short head start and then goes on in the background: a slow OSS endpoint must never make FC
    // report an initialisation failure (its limit is InitializationTimeout, 10 s in our deploy files).
    const warming = options.warmUp?.(context.credentials);
    if (warming) await Promise.race([warming, new Promise((resolve) => setTimeout(resolve, WARM_UP_WAIT_MS).unref())]);
    return new Response(null, { status: 200 });
  }
  if (req.method !== 'POST' || path !== '/invoke') {
    if (!options.httpApi && path !== '/healthz') {
      throw new FerryError('NOT_FOUND', 'This function serves its API through API Gateway only.');
    }
    return options.api(toRequest(req, path), context);
  }

  let event: unknown;
  try {
    event = JSON.parse((await readBody(req, MAX_EVENT_BYTES)).toString('utf8'));
  } catch {
    throw new FerryError('BAD_REQUEST', 'The invocation event must be JSON: an API-gateway event or a job event.');
  }
  if (isJobEvent(event)) {
    if (!options.dispatchSecret) {
      throw new FerryError('UNAUTHORIZED', 'Job events are refused: this worker has no FERRY_DISPATCH_SECRET.');
    }
    const spec = decodeJobEvent(event, options.dispatchSecret);
    return json(stateToJSON(await options.runJob(spec, context.credentials)));
  }
  if (isApiGatewayEvent(event)) {
    if (options.gatewaySecret && !safeEqual(eventHeader(event, GATEWAY_SECRET_HEADER) ?? '', options.gatewaySecret)) {
      throw new FerryError('UNAUTHORIZED', 'API-gateway events are refused without the gateway secret: call the API through API Gateway.');
    }
    const response = await options.api(eventToRequest(event), context);
    return json(await responseToResult(response));
  }
  throw new FerryError('BAD_REQUEST', 'Unknown event: expected an API-gateway trigger event or {"type":"job",...}.');
}

// A refused body (413) is read and dropped up to this much, so the client can finish sending and the
// connection stays usable; beyond it the connection is cut.
const DRAIN_LIMIT = 1024 * 1024;

/** Discard what the handler left unread. The body's web-stream reader is detached from it first. */
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

/**
 * The request path as the API knows it. FC 2.0's default trigger URLs arrive prefixed with
 * `/2016-08-15/proxy/<service>/<function>`, announced in `x-fc-base-path`; FC 3.0 passes paths as-is.
 */
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
