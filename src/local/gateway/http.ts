// The same APIs as the websocket frames (the backend's NOTIFY calls come this way), plus static files.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, readBody } from '../../util/body.js';
import { firstValues } from '../../protocol/apigw-signature.js';
import { errorResponse, type Core } from './core.js';
import { corsHeaders, preflight, screen, type HostPolicy } from './guard.js';
import type { RouteMatch } from './routes.js';
import { createStaticHandler, type StaticHandler } from './static.js';
import type { GatewayResponse } from './types.js';

export interface HttpDeps {
  core: Core;
  route(method: string, path: string): RouteMatch | undefined;
  staticDir: string | undefined;
  maxBodyBytes: number;
  hosts: HostPolicy;
}

export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const staticFiles = deps.staticDir ? createStaticHandler(deps.staticDir) : undefined;
  return (req, res) => {
    handle(deps, staticFiles, req, res).catch(() => {
      if (!res.headersSent) write(res, errorResponse(500, 'Internal Error'));
      else res.destroy();
    });
  };
}

async function handle(deps: HttpDeps, staticFiles: StaticHandler | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const rawUrl = req.url ?? '/';
  const mark = rawUrl.indexOf('?');
  const path = mark < 0 ? rawUrl : rawUrl.slice(0, mark);
  if (!path.startsWith('/')) return write(res, errorResponse(400, 'Invalid Request Uri'));
  // Before the body is read: a refused body is never read, so the connection cannot be reused.
  const refusal = screen(deps.hosts, method, req.headers);
  if (refusal) return write(res, refusal, { connection: 'close' });
  if (method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined) {
    return write(res, preflight(deps.hosts, req.headers));
  }
  const cors = corsHeaders(deps.hosts, req.headers);

  if (staticFiles && (method === 'GET' || method === 'HEAD') && !deps.route(method, path)) {
    for (const [name, value] of Object.entries(cors)) res.setHeader(name, value);
    const result = await staticFiles(path, method, res);
    if (result === 'served') return;
    return write(res, errorResponse(result === 'forbidden' ? 403 : 404, result === 'forbidden' ? 'Forbidden Path' : 'Invalid Url'));
  }

  let body: Buffer;
  try {
    body = await readBody(req, deps.maxBodyBytes);
  } catch (error) {
    if (!(error instanceof BodyTooLargeError)) throw error;
    // The rest of the body is never read, so the connection cannot be reused.
    return write(res, errorResponse(413, 'Request body too Large'), { connection: 'close' });
  }
  const query = firstValues(new URLSearchParams(mark < 0 ? '' : rawUrl.slice(mark + 1)));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  write(res, await deps.core({ method, path, query, headers, body, clientIp: req.socket.remoteAddress ?? '' }), cors, method === 'HEAD');
}

function write(res: ServerResponse, out: GatewayResponse, extra: Record<string, string> = {}, headOnly = false): void {
  // Hop-by-hop headers from the backend would corrupt our own framing.
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(out.headers)) headers[name] = headerSafe(value);
  for (const name of ['content-length', 'transfer-encoding', 'connection', 'keep-alive']) delete headers[name];
  res.writeHead(out.status, { ...headers, ...extra, 'content-length': String(out.body.length) });
  res.end(headOnly ? undefined : out.body);
}

/** HTTP header values must be printable ASCII; an error message may quote a unicode path. */
function headerSafe(value: string): string {
  return value.replace(/[^\x20-\x7e\t]/gu, (ch) => {
    try {
      return encodeURIComponent(ch);
    } catch {
      return '?'; // a lone surrogate
    }
  });
}
