import { createHash, createHmac } from 'node:crypto';
import { safeEqual } from '../../util/safe-equal.js';
import { OssError, accessDenied, invalidArgument } from './errors.js';
import { queryGet, type QueryParam } from './query.js';
import type { Credentials } from '../../protocol/credentials.js';
import { requestHeader } from './http.js';
import {
  checkSecurityToken,
  checkSkew,
  expired,
  findCredential,
  invalidAuthorization,
  MAX_SKEW_MS,
  signatureMismatch,
  type AuthContext,
  type SignedRequest,
} from './auth-util.js';

/*
 * OSS signature V4 (OSS4-HMAC-SHA256), rebuilt from ali-oss lib/common/signUtils.js:
 *   CanonicalRequest = VERB \n URI \n Query \n Headers \n AdditionalHeaders \n HashedPayload
 *   StringToSign     = "OSS4-HMAC-SHA256" \n yyyymmddTHHMMSSZ \n date/region/oss/aliyun_v4_request \n hex(sha256(CR))
 *   key = HMAC chain "aliyun_v4"+secret → date → region → "oss" → "aliyun_v4_request"
 */
const ALGORITHM = 'OSS4-HMAC-SHA256';
const DATE_FORMAT = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;

/** encodeURIComponent plus the RFC 3986 reserved marks it leaves alone, as ali-oss encodeString. */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function parseV4Date(value: string | undefined): number {
  const m = value === undefined ? null : DATE_FORMAT.exec(value);
  if (!m) return Number.NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/*
 * ali-oss renders a value-less sub-resource (`?uploads`) as a bare name but sends `uploads=` on the
 * wire, while a genuinely empty query value is signed as `name=`; the server cannot tell the two apart.
 * It also sorts with localeCompare, which differs from byte order for some names. So we try each
 * plausible canonical form: there are at most four, and a forged request matches none of them.
 */
function canonicalQueries(query: readonly QueryParam[]): string[] {
  const forms = new Set<string>();
  for (const bareEmpty of [true, false]) {
    const entries = query.map((p) => ({
      name: p.name,
      text: p.value === '' && bareEmpty ? encodeRfc3986(p.name) : `${encodeRfc3986(p.name)}=${encodeRfc3986(p.value)}`,
    }));
    const byLocale = [...entries].sort((a, b) => a.name.localeCompare(b.name));
    const byCodeUnit = [...entries].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
    forms.add(byLocale.map((e) => e.text).join('&'));
    forms.add(byCodeUnit.map((e) => e.text).join('&'));
  }
  return [...forms];
}

function canonicalRequests(req: SignedRequest, query: readonly QueryParam[], additional: string[]): string[] {
  const { bucket, key } = req.address;
  const uri = encodeRfc3986(`/${bucket}/${key}`).replace(/%2F/g, '/');
  const names = new Set(additional);
  for (const name of Object.keys(req.headers)) {
    if (name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')) names.add(name);
  }
  for (const name of additional) {
    if (req.headers[name] === undefined) throw invalidArgument(`Additional header ${name} is signed but not sent.`);
  }
  const headers = [...names].sort().map((name) => `${name}:${(requestHeader(req, name) ?? '').trim()}\n`).join('');
  const payload = requestHeader(req, 'x-oss-content-sha256') ?? 'UNSIGNED-PAYLOAD';
  return canonicalQueries(query).map((q) => [req.method, uri, q, headers, additional.join(';'), payload].join('\n'));
}

function signingKey(secret: string, date: string, region: string): Buffer {
  const hmac = (keyMaterial: string | Buffer, data: string): Buffer => createHmac('sha256', keyMaterial).update(data).digest();
  return hmac(hmac(hmac(hmac(`aliyun_v4${secret}`, date), region), 'oss'), 'aliyun_v4_request');
}

interface V4Claim {
  credential: string;
  additionalHeaders: string;
  signature: string;
  date: string | undefined;
}

/** Checks the claim's scope and signature against every canonical form; returns the key on a match. */
function verify(ctx: AuthContext, req: SignedRequest, claim: V4Claim, query: readonly QueryParam[]): Credentials {
  const [accessKeyId = '', scopeDate, region, product, terminator, ...extra] = claim.credential.split('/');
  if (!scopeDate || !region || product !== 'oss' || terminator !== 'aliyun_v4_request' || extra.length > 0) {
    throw invalidArgument('The V4 credential must be <AccessKeyId>/<yyyymmdd>/<region>/oss/aliyun_v4_request.');
  }
  const credential = findCredential(ctx, accessKeyId);
  if (claim.date === undefined || Number.isNaN(parseV4Date(claim.date))) {
    throw accessDenied('A V4 signature needs x-oss-date as yyyymmddTHHMMSSZ.');
  }
  if (!claim.date.startsWith(scopeDate)) throw invalidArgument('The V4 credential date does not match x-oss-date.');
  if (region !== ctx.region) {
    throw invalidArgument(`Invalid signing region in the V4 credential: expected ${ctx.region}, got ${region}.`);
  }
  const additional = claim.additionalHeaders === '' ? [] : claim.additionalHeaders.toLowerCase().split(';');
  const key = signingKey(credential.accessKeySecret, scopeDate, region);
  const scope = `${scopeDate}/${region}/oss/aliyun_v4_request`;
  let first = '';
  for (const canonical of canonicalRequests(req, query, additional)) {
    const hashed = createHash('sha256').update(canonical).digest('hex');
    const stringToSign = [ALGORITHM, claim.date, scope, hashed].join('\n');
    first ||= stringToSign;
    if (safeEqual(createHmac('sha256', key).update(stringToSign).digest('hex'), claim.signature)) return credential;
  }
  throw signatureMismatch(first, accessKeyId);
}

/** `Authorization: OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=…` */
export function verifyV4Header(ctx: AuthContext, req: SignedRequest, authorization: string): Credentials {
  const fields = new Map<string, string>();
  for (const part of authorization.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signature = fields.get('Signature');
  if (!credential || !signature) throw invalidAuthorization();
  const date = requestHeader(req, 'x-oss-date');
  checkSkew(ctx, parseV4Date(date));
  const found = verify(ctx, req, { credential, signature, date, additionalHeaders: fields.get('AdditionalHeaders') ?? '' }, req.query);
  checkSecurityToken(found, requestHeader(req, 'x-oss-security-token'));
  return found;
}

/** Presigned URL: `x-oss-signature-version`, `x-oss-credential`, `x-oss-date`, `x-oss-expires`, `x-oss-signature`. */
export function verifyV4Query(ctx: AuthContext, req: SignedRequest): Credentials {
  const credential = queryGet(req.query, 'x-oss-credential');
  const signature = queryGet(req.query, 'x-oss-signature');
  const date = queryGet(req.query, 'x-oss-date');
  const expiresText = queryGet(req.query, 'x-oss-expires');
  if (!credential || !signature || !date || !expiresText) {
    throw accessDenied('A V4 signed URL needs x-oss-credential, x-oss-date, x-oss-expires and x-oss-signature.');
  }
  const expires = /^\d+$/.test(expiresText) ? Number(expiresText) : Number.NaN;
  if (!(expires > 0 && expires <= MAX_PRESIGN_SECONDS)) {
    throw invalidArgument(`x-oss-expires must be 1..${MAX_PRESIGN_SECONDS} seconds.`, 'x-oss-expires', expiresText);
  }
  const signedAt = parseV4Date(date);
  if (Number.isNaN(signedAt)) throw accessDenied('x-oss-date must be yyyymmddTHHMMSSZ.');
  // A URL dated in the future is as suspect as a header from the future.
  if (signedAt - ctx.now() > MAX_SKEW_MS) {
    throw new OssError(403, 'RequestTimeTooSkewed', 'x-oss-date is in the future.');
  }
  if (signedAt + expires * 1000 < ctx.now()) throw expired();
  const signed = req.query.filter((p) => p.name !== 'x-oss-signature');
  const additionalHeaders = queryGet(req.query, 'x-oss-additional-headers') ?? '';
  const found = verify(ctx, req, { credential, signature, date, additionalHeaders }, signed);
  checkSecurityToken(found, queryGet(req.query, 'x-oss-security-token') ?? requestHeader(req, 'x-oss-security-token'));
  return found;
}
