// Mirrors the vendor signer `aliyun-api-gateway` lib/client.js line for line.
import { createHash, createHmac } from 'node:crypto';

export interface SignableRequest {
  method: string;
  /** The path exactly as on the wire (percent-encoding included), without the query string. */
  path: string;
  /** Decoded query parameters; `undefined` and '' both sign as a bare `key`. */
  query?: Record<string, string | undefined>;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

export type SignatureMethod = 'HmacSHA256' | 'HmacSHA1';

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

export function buildStringToSign(req: SignableRequest, signedHeaders: readonly string[]): string {
  const headers = lowerCaseKeys(req.headers);
  const line = (name: string) => `${headers[name] ?? ''}\n`;
  let out = `${req.method.toUpperCase()}\n${line('accept')}${line('content-md5')}${line('content-type')}${line('date')}`;
  for (const name of signedHeaders) out += `${name}:${headers[name.toLowerCase()] ?? ''}\n`;
  const form = isForm(headers['content-type']) && req.body !== undefined ? parseForm(req.body) : {};
  return out + canonicalUrl(req.path, { ...(req.query ?? {}), ...form });
}

/** `path?k1=v1&k2&...`: keys sorted by UTF-16 code units, empty values as the bare key. */
export function canonicalUrl(path: string, params: Record<string, string | undefined>): string {
  const keys = Object.keys(params).sort();
  if (keys.length === 0) return path;
  return `${path}?${keys.map((key) => (params[key] ? `${key}=${params[key]}` : key)).join('&')}`;
}

export function computeSignature(secret: string, stringToSign: string, method: SignatureMethod = 'HmacSHA256'): string {
  return createHmac(method === 'HmacSHA1' ? 'sha1' : 'sha256', Buffer.from(secret, 'utf8'))
    .update(stringToSign, 'utf8')
    .digest('base64');
}

export function contentMd5(body: string | Uint8Array): string {
  return createHash('md5').update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body).digest('base64');
}

export function isForm(contentType: string | undefined): boolean {
  return (contentType ?? '').toLowerCase().startsWith(FORM_CONTENT_TYPE);
}

/** Form parameters, first value wins (the gateway documents: "the first value is used"). */
export function parseForm(body: string | Uint8Array): Record<string, string> {
  return firstValues(new URLSearchParams(typeof body === 'string' ? body : Buffer.from(body).toString('utf8')));
}

// Through a Map, so names like `__proto__` or `constructor` stay own keys, as the client signed them.
export function firstValues(params: URLSearchParams): Record<string, string> {
  const first = new Map<string, string>();
  for (const [key, value] of params) if (!first.has(key)) first.set(key, value);
  return Object.fromEntries(first);
}

export function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

