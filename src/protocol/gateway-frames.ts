// Each header a one-element array, answers matched by `x-ca-seq`; web-standard APIs only (the page imports this).
import type { ApiRequest, ApiResponse, RequestSigner } from './gateway-types.js';

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
