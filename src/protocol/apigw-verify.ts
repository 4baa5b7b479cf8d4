// Failures carry the status and X-Ca-Error-Message the real gateway documents for the same fault,
// so clients written against the emulator handle the real thing.
import { safeEqual } from '../util/safe-equal.js';
import type { NonceCache } from './nonce-cache.js';
import {
  buildStringToSign,
  computeSignature,
  contentMd5,
  lowerCaseKeys,
  type SignableRequest,
  type SignatureMethod,
} from './_apigw-canonical.js';

/** ±15 minutes: the gateway's X-Ca-Timestamp tolerance and X-Ca-Nonce memory. */
export const SIGNATURE_WINDOW_MS = 15 * 60_000;

export interface VerifyOptions {
  lookupSecret(appKey: string): string | undefined;
  nonces: NonceCache;
  now?: number;
}

export type VerifyResult = { ok: true; appKey: string } | { ok: false; status: number; errorMessage: string };

// Unsigned, a captured request could be replayed with a fresh timestamp and nonce, or redirected.
const MUST_SIGN = ['x-ca-timestamp', 'x-ca-nonce', 'x-ca-deviceid'];

export function verifyRequest(req: SignableRequest, opts: VerifyOptions): VerifyResult {
  const headers = lowerCaseKeys(req.headers);
  const now = opts.now ?? Date.now();

  const appKey = headers['x-ca-key'];
  const secret = appKey ? opts.lookupSecret(appKey) : undefined;
  if (!appKey || secret === undefined) return fail(400, 'Invalid AppKey');

  const signature = headers['x-ca-signature'];
  if (!signature) return fail(404, 'Empty Signature');

  const algorithm = headers['x-ca-signature-method'] ?? 'HmacSHA256';
  if (algorithm !== 'HmacSHA256' && algorithm !== 'HmacSHA1') {
    return fail(400, `Invalid Header \`X-Ca-Signature-Method\` ${algorithm} unsupported`);
  }

  const timestamp = headers['x-ca-timestamp'];
  if (timestamp === undefined) return fail(400, 'Header `X-Ca-Timestamp` is Required');
  if (!/^\d{1,15}$/.test(timestamp)) return fail(400, 'Invalid Timestamp');
  if (Math.abs(now - Number(timestamp)) > SIGNATURE_WINDOW_MS) return fail(400, 'Timestamp Expired');

  const nonce = headers['x-ca-nonce'];
  if (!nonce) return fail(400, 'Header `X-Ca-Nonce` is Required');

  const md5 = headers['content-md5'];
  if (md5 !== undefined && md5 !== contentMd5(req.body ?? '')) return fail(400, 'Invalid Content-MD5');

  const signedHeaders = (headers['x-ca-signature-headers'] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const signedLower = new Set(signedHeaders.map((name) => name.toLowerCase()));
  for (const name of MUST_SIGN) {
    if (headers[name] !== undefined && !signedLower.has(name)) {
      return fail(400, `Invalid Header \`X-Ca-Signature-Headers\` must include ${name}`);
    }
  }

  const stringToSign = buildStringToSign(req, signedHeaders);
  const expected = computeSignature(secret, stringToSign, algorithm as SignatureMethod);
  if (!safeEqual(expected, signature)) {
    // The real gateway returns its StringToSign so a client can diff it; headers cannot hold '\n'.
    return fail(400, `Invalid Signature, Server StringToSign:\`${stringToSign.replace(/\n/g, '#')}\``);
  }

  // Only a correctly signed request may consume a nonce, so forgeries cannot burn real ones.
  if (!opts.nonces.use(`${appKey}\n${nonce}`, now)) return fail(400, 'Nonce Used');
  return { ok: true, appKey };
}

/** True when a request carries any signature material (ANONYMOUS APIs still check it then). */
export function hasSignatureHeaders(headers: Record<string, string>): boolean {
  const lower = lowerCaseKeys(headers);
  return lower['x-ca-signature'] !== undefined || lower['x-ca-key'] !== undefined;
}

function fail(status: number, errorMessage: string): VerifyResult {
  return { ok: false, status, errorMessage };
}
