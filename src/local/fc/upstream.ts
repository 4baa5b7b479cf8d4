import http from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer | Readable;
  /** Socket idle timeout; FC's function timeout plays this role. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** The request never reached the runtime (connection refused), so sending it again is safe. */
export class NotDeliveredError extends Error {
  override readonly name = 'NotDeliveredError';
}

export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
}

// The body is written only once the connection is up: a refused connection then leaves a streamed body
// unread, so the caller can retry it against a restarted runtime.
export function sendToRuntime(port: number, request: UpstreamRequest): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    let connected = false;
    // A fresh connection per request (agent: false) so 'connect' always fires and a dead
    // runtime's pooled sockets are never reused.
    const req = http.request({
      host: '127.0.0.1',
      port,
      method: request.method,
      path: request.path,
      headers: request.headers,
      agent: false,
      signal: request.signal,
    });
    req.setTimeout(request.timeoutMs, () => req.destroy(new UpstreamTimeoutError(`runtime did not answer within ${request.timeoutMs} ms`)));
    req.once('socket', (socket) => {
      socket.once('connect', () => {
        connected = true;
        const body = request.body;
        if (body === undefined) req.end();
        else if (Buffer.isBuffer(body)) req.end(body);
        else body.pipe(req);
      });
    });
    req.once('response', resolve);
    req.once('error', (err) => {
      reject(connected ? err : new NotDeliveredError(`runtime on port ${port} refused the connection: ${err.message}`, { cause: err }));
    });
  });
}

// Hop-by-hop headers describe one connection, not the message; a proxy must not forward them.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name.toLowerCase());
}
