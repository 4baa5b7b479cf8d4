// Requests Node refuses before our handler sees them (a header over maxHeaderSize, Content-Length with
// Transfer-Encoding, a body still short of its length when requestTimeout ends) still get a status, in the
// same JSON shape as every other refusal, instead of a dropped connection.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WorkerErrorCode } from '../../protocol/errors.js';
import { jsonError } from './guard.js';
import type { GatewayResponse } from './types.js';

interface Refusal {
  code: WorkerErrorCode;
  message: string;
}

export function refusalFor(error: Error & { code?: string }, limits: { maxHeaderBytes: number; requestTimeoutMs: number }): Refusal {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', message: `The request's headers are larger than ${limits.maxHeaderBytes} bytes: send fewer or shorter ones.` };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', message: `The request did not arrive whole within ${limits.requestTimeoutMs} ms: send as many body bytes as Content-Length says.` };
    default:
      return { code: 'BAD_REQUEST', message: `The request is not valid HTTP/1.1 (${error.code ?? error.message}): send one Content-Length or Transfer-Encoding: chunked, not both, and well-formed headers.` };
  }
}

/** The answer to a request Node could not parse or finish reading; then the connection closes. */
export function answerClientError(error: Error & { code?: string }, socket: Duplex, limits: { maxHeaderBytes: number; requestTimeoutMs: number }): void {
  // A response already on its way (or a peer that is gone) cannot be followed by another.
  const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
    socket.destroy();
    return;
  }
  const refusal = refusalFor(error, limits);
  socket.end(rawResponse(jsonError(refusal.code, refusal.message)));
}

/** A whole response, written on a socket no ServerResponse owns (a refused upgrade, a client error). */
export function rawResponse(out: GatewayResponse): Buffer {
  const head = [`HTTP/1.1 ${out.status} ${STATUS_CODES[out.status] ?? ''}`];
  // A quoted Host or Origin may hold any byte a header can: keep the head printable ASCII.
  for (const [name, value] of Object.entries(out.headers)) head.push(`${name}: ${value.replace(/[^\x20-\x7e]/g, '?')}`);
  head.push(`content-length: ${out.body.length}`, 'connection: close', '', '');
  return Buffer.concat([Buffer.from(head.join('\r\n'), 'latin1'), out.body]);
}
