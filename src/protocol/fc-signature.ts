import { createHash, createHmac, randomUUID } from 'node:crypto';
import { safeEqual } from '../util/safe-equal.js';
import type { Credentials } from './credentials.js';

/**
 * Alibaba Cloud's V3 request signature (ACS3-HMAC-SHA256), ROA style, as FC 3.0's OpenAPI takes it.
 * A leaf: the worker signs InvokeFunction with it and the local FC emulator verifies with it.
 */
export const ACS3_ALGORITHM = 'ACS3-HMAC-SHA256';

/** FC 3.0's API version: the first path segment and the `x-acs-version` header. */
export const FC_API_VERSION = '2023-03-30';

// FC, like Alibaba Cloud's gateway, refuses a request whose x-acs-date is further than this from its clock.
export const MAX_DATE_SKEW_MS = 15 * 60 * 1000;

export interface Acs3SignInput {
  method: string;
  /** The request URL; its pathname must already be encoded (see encodePath). */
  url: URL;
  action: string;
  version: string;
  /** Request headers besides the signature's own (content-type, x-fc-*, …), lower-case names. */
  headers?: Record<string, string>;
  body?: string | Uint8Array | undefined;
  credentials: Credentials;
  /** Fixed only in tests: the signing time and nonce. */
  date?: Date;
  nonce?: string;
}

/** RFC 3986 percent-encoding, as the V3 signature wants it: only A–Z a–z 0–9 - _ . ~ stay as they are. */
export function acs3Encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** A path with each segment encoded, slashes kept: the V3 CanonicalURI. */
export function encodePath(path: string): string {
  return path.split('/').map(acs3Encode).join('/');
}

export function sha256Hex(body: string | Uint8Array | undefined): string {
  return createHash('sha256').update(body ?? '').digest('hex');
}

/** `2023-10-26T09:01:01Z`: ISO 8601 in UTC, to the second. */
export function acs3Date(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The headers to send: the caller's, plus host, x-acs-*, and Authorization. */
export function signAcs3(input: Acs3SignInput): Record<string, string> {
  const { credentials } = input;
  const headers: Record<string, string> = {
    ...input.headers,
    host: input.url.host,
    'x-acs-action': input.action,
    'x-acs-version': input.version,
    'x-acs-date': acs3Date(input.date ?? new Date()),
    'x-acs-signature-nonce': input.nonce ?? randomUUID(),
    'x-acs-content-sha256': sha256Hex(input.body),
  };
  if (credentials.securityToken) {
    // Alibaba Cloud's SDKs name the key id beside an STS token; both are signed.
    headers['x-acs-accesskey-id'] = credentials.accessKeyId;
    headers['x-acs-security-token'] = credentials.securityToken;
  }
  const signed = signedHeaderNames(Object.keys(headers));
  const signature = acs3Signature(credentials.accessKeySecret, input.method, input.url, headers, signed, headers['x-acs-content-sha256'] ?? '');
  headers.authorization = `${ACS3_ALGORITHM} Credential=${credentials.accessKeyId},SignedHeaders=${signed.join(';')},Signature=${signature}`;
  return headers;
}

/** Signed are host, content-type and every x-acs-* header, sorted. */
function signedHeaderNames(names: string[]): string[] {
  const lower = new Set(names.map((name) => name.toLowerCase()));
  return [...lower].filter((name) => name === 'host' || name === 'content-type' || name.startsWith('x-acs-')).sort();
}

/** Hex HMAC-SHA256 of the string to sign, which hashes the canonical request. */
export function acs3Signature(
  secret: string,
  method: string,
  url: URL,
  headers: Record<string, string | undefined>,
  signedHeaders: string[],
  payloadHash: string,
): string {
  const canonicalHeaders = signedHeaders.map((name) => `${name}:${(headers[name] ?? '').trim()}\n`).join('');
  const canonicalRequest = [
    method.toUpperCase(),
    url.pathname,
    canonicalQuery(url.searchParams),
    canonicalHeaders,
    signedHeaders.join(';'),
    payloadHash,
  ].join('\n');
  const stringToSign = `${ACS3_ALGORITHM}\n${sha256Hex(canonicalRequest)}`;
  return createHmac('sha256', secret).update(stringToSign).digest('hex');
}

function canonicalQuery(params: URLSearchParams): string {
  // Sorted by encoded name (then value), not as whole `name=value` strings: `a-b` sorts after `a`.
  return [...params]
    .map(([name, value]) => [acs3Encode(name), acs3Encode(value)] as const)
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

export interface Acs3Authorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/** `ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…`, or undefined if it is not that. */
export function parseAcs3Authorization(header: string | undefined): Acs3Authorization | undefined {
  const match = /^ACS3-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/i.exec(header?.trim() ?? '');
  if (!match) return undefined;
  return { accessKeyId: match[1] ?? '', signedHeaders: (match[2] ?? '').toLowerCase().split(';'), signature: (match[3] ?? '').toLowerCase() };
}

export interface Acs3Refusal {
  status: 401 | 403;
  code: string;
  message: string;
}

export interface Acs3VerifyInput {
  method: string;
  /** As received: the path and query exactly as the client sent them. */
  url: URL;
  /** Lower-case names, as node:http gives them. */
  headers: Record<string, string | undefined>;
  body: Uint8Array;
  credentials: Credentials;
  now?: Date;
}

// Without these signed, a signature would not bind the request's target, time, body or token.
const REQUIRED_SIGNED = ['host', 'x-acs-action', 'x-acs-version', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-content-sha256'];

/** Check a V3-signed request as FC would; undefined when it is good, else why it is refused. */
export function verifyAcs3(input: Acs3VerifyInput): Acs3Refusal | undefined {
  const { headers, credentials } = input;
  const auth = parseAcs3Authorization(headers.authorization);
  if (!auth) {
    return { status: 401, code: 'MissingAuthorization', message: 'the request carries no ACS3-HMAC-SHA256 Authorization header' };
  }
  const missing = REQUIRED_SIGNED.filter((name) => !auth.signedHeaders.includes(name) || headers[name] === undefined);
  if (credentials.securityToken && !auth.signedHeaders.includes('x-acs-security-token')) missing.push('x-acs-security-token');
  if (missing.length > 0) return { status: 401, code: 'IncompleteSignature', message: `these headers must be sent and signed: ${missing.join(', ')}` };
  if (auth.accessKeyId !== credentials.accessKeyId) {
    return { status: 403, code: 'InvalidAccessKeyId.NotFound', message: `access key id '${auth.accessKeyId}' is not known` };
  }
  if ((headers['x-acs-security-token'] ?? '') !== (credentials.securityToken ?? '')) {
    return { status: 403, code: 'InvalidSecurityToken.Mismatch', message: 'the x-acs-security-token does not belong to this access key' };
  }
  const date = Date.parse(headers['x-acs-date'] ?? '');
  const now = (input.now ?? new Date()).getTime();
  if (!Number.isFinite(date) || Math.abs(now - date) > MAX_DATE_SKEW_MS) {
    return { status: 403, code: 'InvalidTimeStamp.Expired', message: `x-acs-date '${headers['x-acs-date']}' is more than 15 minutes from the server's time` };
  }
  if (headers['x-acs-content-sha256'] !== sha256Hex(input.body)) {
    return { status: 403, code: 'ContentSha256Mismatch', message: 'x-acs-content-sha256 is not the SHA-256 of the body' };
  }
  const expected = acs3Signature(credentials.accessKeySecret, input.method, input.url, headers, auth.signedHeaders, headers['x-acs-content-sha256']);
  if (!safeEqual(expected, auth.signature)) {
    return { status: 403, code: 'SignatureDoesNotMatch', message: 'the request signature does not match the one computed with this access key' };
  }
  return undefined;
}
