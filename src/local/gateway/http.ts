/**
 * The plain-HTTP side of the gateway: the same APIs as the websocket frames (the backend's NOTIFY
 * calls come this way), plus static files for the web page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorResponse, type Core } from './core.js';
import type { RouteMatch } from './routes.js';
import { serveStatic } from './static.js';
import type { GatewayResponse } from './types.js';

export interface HttpDeps {
  core: Core;
  route(method: string, path: string): RouteMatch | undefined;
  staticDir: string | undefined;
  maxBodyBytes: number;
}

export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(deps, req, res).catch(() => {
      if (!res.headersSent) write(res, errorResponse(500, 'Internal Error'));
      else res.destroy();
    });
  };
}

async function handle(deps: HttpDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  const rawUrl = req.url ?? '/';
  const mark = rawUrl.indexOf('?');
  const path = mark < 0 ? rawUrl : rawUrl.slice(0, mark);
  if (!path.startsWith('/')) return write(res, errorResponse(400, 'Invalid Request Uri'));

  if (deps.staticDir && (method === 'GET' || method === 'HEAD') && !deps.route(method, path)) {
    const result = await serveStatic(deps.staticDir, path, method, res);
    if (result === 'served') return;
    return write(res, errorResponse(result === 'forbidden' ? 403 : 404, result === 'forbidden' ? 'Forbidden Path' : 'Invalid Url'));
  }

  const body = await readBody(req, deps.maxBodyBytes);
  if (!body) {
    write(res, errorResponse(413, 'Request body too Large'), { connection: 'close' });
    return;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(mark < 0 ? '' : rawUrl.slice(mark + 1))) if (!(key in query)) query[key] = value;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  write(res, await deps.core({ method, path, query, headers, body, clientIp: req.socket.remoteAddress ?? '' }), {}, method === 'HEAD');
}

/** The whole body, or undefined past `limit` (the rest is not read: the connection is closed). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
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
