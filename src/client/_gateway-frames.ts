/**
 * The JSON frames API calls travel in over the gateway's websocket: a request goes out signed (or, without
 * credentials, unsigned) with each header as a one-element array; its answer comes back carrying the same
 * `x-ca-seq`, its body base64-encoded when `isBase64` says so.
 */
import { signRequest } from '../protocol/apigw-signature.js';
import type { AppCredentials } from '../protocol/apigw-signature.js';
import type { ApiRequest, ApiResponse } from './gateway-types.js';

/** The text of one API-call frame, with `seq` as its `x-ca-seq`. */
export function encodeRequest(req: ApiRequest, seq: string, host: string, creds: AppCredentials | undefined): string {
  const query = req.query ?? {};
  const body = req.body ?? '';
  const unsigned = { ...req.headers, 'x-ca-seq': seq };
  const headers = creds
    ? signRequest({ method: req.method, path: req.path, query, headers: unsigned, body }, creds)
    : { accept: 'application/json', ...unsigned };
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
  let frame: { status?: unknown; header?: Record<string, unknown>; body?: unknown; isBase64?: unknown };
  try {
    frame = JSON.parse(text) as typeof frame;
  } catch {
    return undefined;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(frame.header ?? {})) headers[name.toLowerCase()] = String(value);
  const raw = typeof frame.body === 'string' ? frame.body : '';
  const body = frame.isBase64 === 1 || frame.isBase64 === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  return { seq: headers['x-ca-seq'], response: { status: typeof frame.status === 'number' ? frame.status : 0, headers, body } };
}

export function toText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
