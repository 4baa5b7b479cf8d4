/**
 * The JSON frames API calls travel in over the gateway's websocket: a request goes out signed (or, without
 * a signer, unsigned) with each header as a one-element array; its answer comes back carrying the same
 * `x-ca-seq`, its body base64-encoded when `isBase64` says so. Web-standard APIs only (atob, TextDecoder).
 */
import type { ApiRequest, ApiResponse, RequestSigner } from './gateway-types.js';

/** The text of one API-call frame, with `seq` as its `x-ca-seq`. */
export function encodeRequest(req: ApiRequest, seq: string, host: string, sign: RequestSigner | undefined): string {
  const query = req.query ?? {};
  const body = req.body ?? '';
  const unsigned = { ...req.headers, 'x-ca-seq': seq };
  const headers = sign ? sign({ method: req.method, path: req.path, query, headers: unsigned, body }) : { accept: 'application/json', ...unsigned };
  return JSON.stringify({
    method: req.method,
    host,
    path: req.path,
    querys: query,
    headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    isBase64: 0,
    body,
  });
}

/** Parses an answer frame (text starting with `{`); undefined when it is not JSON. */
export function decodeAnswer(text: string): { seq: string | undefined; response: ApiResponse } | undefined {
  let frame: { status?: unknown; header?: unknown; body?: unknown; isBase64?: unknown };
  try {
    frame = JSON.parse(text) as typeof frame;
  } catch {
    return undefined;
  }
  if (typeof frame !== 'object' || frame === null) return undefined;
  const headers: Record<string, string> = {};
  if (typeof frame.header === 'object' && frame.header !== null) {
    for (const [name, value] of Object.entries(frame.header)) headers[name.toLowerCase()] = String(value);
  }
  const raw = typeof frame.body === 'string' ? frame.body : '';
  const body = frame.isBase64 === 1 || frame.isBase64 === true ? decodeBase64(raw) : raw;
  return { seq: headers['x-ca-seq'], response: { status: typeof frame.status === 'number' ? frame.status : 0, headers, body } };
}

function decodeBase64(base64: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)));
  } catch {
    return '';
  }
}
