// route → rate limit → signature → REGISTER / UNREGISTER / NOTIFY / backend, whichever transport carried
// the call. The gateway's own errors carry `X-Ca-Error-Message` with Alibaba Cloud's texts.
import { randomUUID } from 'node:crypto';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../protocol/apigw-event.js';
import { hasSignatureHeaders, lowerCaseKeys, NonceCache, verifyRequest } from '../../protocol/apigw-signature.js';
import type { DeviceRegistry } from './devices.js';
import type { RateLimiter } from './ratelimit.js';
import type { RouteMatch } from './routes.js';
import type { GatewayBackend, GatewayRequest, GatewayResponse } from './types.js';

export interface CoreDeps {
  route(method: string, path: string): RouteMatch | undefined;
  secrets: Map<string, string>;
  backend: GatewayBackend;
  devices: DeviceRegistry;
  anonymousLimiter?: RateLimiter;
  log(line: string): void;
}

export type Core = (req: GatewayRequest) => Promise<GatewayResponse>;

export function createCore(deps: CoreDeps): Core {
  const nonces = new NonceCache();

  return async (req) => {
    const requestId = randomUUID();
    const fail = (status: number, message: string) => errorResponse(status, message, requestId);

    const match = deps.route(req.method, req.path);
    if (!match) return fail(404, 'Invalid Url');
    const { api } = match;

    if (api.auth === 'ANONYMOUS' && deps.anonymousLimiter && !deps.anonymousLimiter(req.clientIp)) {
      return fail(429, 'Throttled by API Flow Control');
    }
    // ANONYMOUS APIs still check a signature that is present: a bad one is never accepted.
    if (api.auth === 'APP' || hasSignatureHeaders(req.headers)) {
      const check = verifyRequest(
        { method: req.method, path: req.path, query: req.query, headers: req.headers, body: req.body },
        { lookupSecret: (key) => deps.secrets.get(key), nonces },
      );
      if (!check.ok) return fail(check.status, check.errorMessage);
    }

    if (api.type === 'NOTIFY') {
      const deviceId = req.headers['x-ca-deviceid'];
      if (!deviceId) return fail(400, 'Header `x-ca-deviceid` is Required');
      const target = deps.devices.target(deviceId);
      if (!target || !(await target.notify(req.body.toString('utf8')))) return fail(404, 'Device Not Found');
      return { status: 200, headers: { 'x-ca-request-id': requestId }, body: Buffer.alloc(0) };
    }

    const headers: Record<string, string> = { ...req.headers, 'x-ca-request-id': requestId, 'x-forwarded-for': req.clientIp };
    // The gateway, not the client, vouches for the device id: the connection's, on every call it carries (the
    // worker binds a job's pushes to it); a client's own value never reaches the backend.
    delete headers['x-ca-deviceid'];
    const deviceId = req.connection?.deviceId;
    if (deviceId) headers['x-ca-deviceid'] = deviceId;
    if ((api.type === 'REGISTER' || api.type === 'UNREGISTER') && !deviceId) {
      return fail(400, `Invalid Header \`x-ca-deviceid\` ${api.type} needs a websocket connection that sent RG#<deviceId>`);
    }

    const result = await invoke(deps.backend, toEvent(req, match, headers), deps.log);
    if (!result) return fail(502, 'Failed To Invoke Backend Service');
    const ok = result.statusCode >= 200 && result.statusCode < 300;
    if (ok && req.connection && api.type === 'REGISTER') req.connection.registered = true;
    if (ok && req.connection && api.type === 'UNREGISTER') req.connection.registered = false;

    const body = Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
    return { status: result.statusCode, headers: { ...lowerCaseKeys(result.headers), 'x-ca-request-id': requestId }, body, binary: result.isBase64Encoded };
  };
}

export function errorResponse(status: number, message: string, requestId = randomUUID()): GatewayResponse {
  return { status, headers: { 'x-ca-request-id': requestId, 'x-ca-error-message': message }, body: Buffer.alloc(0) };
}

function toEvent(req: GatewayRequest, match: RouteMatch, headers: Record<string, string>): ApiGatewayEvent {
  const text = asText(req.body, headers['content-type']);
  return {
    path: req.path,
    httpMethod: req.method,
    headers,
    queryParameters: { ...req.query },
    pathParameters: match.pathParameters,
    body: text ?? req.body.toString('base64'),
    isBase64Encoded: text === undefined,
  };
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text when it is declared textual (or undeclared) and valid UTF-8; else undefined. */
function asText(body: Buffer, contentType: string | undefined): string | undefined {
  const type = (contentType ?? '').toLowerCase();
  const textual = type === '' || /^text\/|json|xml|javascript|x-www-form-urlencoded/.test(type);
  if (!textual) return undefined;
  try {
    return UTF8.decode(body);
  } catch {
    return undefined;
  }
}

async function invoke(backend: GatewayBackend, event: ApiGatewayEvent, log: (line: string) => void): Promise<ApiGatewayResult | undefined> {
  try {
    const result = await backend.invoke(event);
    const valid =
      typeof result === 'object' &&
      result !== null &&
      Number.isInteger(result.statusCode) &&
      result.statusCode >= 100 &&
      result.statusCode <= 599 &&
      typeof result.body === 'string';
    if (valid) return { ...result, headers: stringValues(result.headers ?? {}), isBase64Encoded: result.isBase64Encoded === true };
    log(`gateway: ${event.httpMethod} ${event.path}: backend returned a malformed result`);
  } catch (error) {
    log(`gateway: ${event.httpMethod} ${event.path}: backend failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return undefined;
}

/** A backend may put numbers (content-length) among its header values. */
function stringValues(headers: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, String(value)]));
}
