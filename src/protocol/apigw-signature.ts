// Byte-identical to the vendor's own Node signer (npm `aliyun-api-gateway`, lib/client.js).
import { randomUUID } from 'node:crypto';
import { buildStringToSign, computeSignature, contentMd5, isForm, type SignableRequest } from './_apigw-canonical.js';

export interface AppCredentials {
  appKey: string;
  appSecret: string;
}

export interface SignOptions {
  /** Clock for X-Ca-Timestamp (ms). */
  now?: number;
  /** X-Ca-Nonce; a fresh UUID by default. Never reuse one: the gateway answers `Nonce Used`. */
  nonce?: string;
  /** Sends and signs X-Ca-Stage (RELEASE, PRE, TEST). Omitted: the gateway assumes RELEASE. */
  stage?: string;
  /** Extra non-`x-ca-*` header names to sign, like the vendor's `signHeaders`. */
  signHeaders?: string[];
}

/** Headers that carry the signature itself or sit in the fixed lines; never in the header block. */
const UNSIGNABLE = new Set(['x-ca-signature', 'x-ca-signature-headers', 'accept', 'content-md5', 'content-type', 'date']);

export function signRequest(req: SignableRequest, creds: AppCredentials, opts: SignOptions = {}): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = value;
  headers['x-ca-key'] = creds.appKey;
  headers['x-ca-timestamp'] = String(opts.now ?? Date.now());
  headers['x-ca-nonce'] = opts.nonce ?? randomUUID();
  headers['x-ca-signature-method'] ??= 'HmacSHA256';
  if (opts.stage !== undefined) headers['x-ca-stage'] = opts.stage;
  delete headers['x-ca-signature'];
  delete headers['x-ca-signature-headers'];

  const method = req.method.toUpperCase();
  // The vendor hashes the body of every POST that is not a form (an absent body hashes as '').
  if (method === 'POST' && !isForm(headers['content-type'])) headers['content-md5'] = contentMd5(req.body ?? '');

  const extra = new Set((opts.signHeaders ?? []).map((name) => name.toLowerCase()));
  const signed = Object.keys(headers)
    .filter((name) => name.startsWith('x-ca-') || (extra.has(name) && !UNSIGNABLE.has(name)))
    .sort();
  const algorithm = headers['x-ca-signature-method'] === 'HmacSHA1' ? 'HmacSHA1' : 'HmacSHA256';
  headers['x-ca-signature-headers'] = signed.join(',');
  headers['x-ca-signature'] = computeSignature(creds.appSecret, buildStringToSign({ ...req, method, headers }, signed), algorithm);
  return headers;
}

// firstValues and lowerCaseKeys: the gateway parses requests exactly as the signature reads them.
export { buildStringToSign, firstValues, lowerCaseKeys } from './_apigw-canonical.js';
export type { SignableRequest } from './_apigw-canonical.js';
export { verifyRequest, hasSignatureHeaders } from './apigw-verify.js';
export { NonceCache } from './nonce-cache.js';
