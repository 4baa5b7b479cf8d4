import { OssError, accessDenied } from './errors.js';
import { queryGet, queryHas } from './query.js';
import type { Credentials } from '../../protocol/credentials.js';
import { requestHeader } from './http.js';
import { invalidAuthorization, type AuthContext, type SignedRequest } from './auth-util.js';
import { verifyV4Header, verifyV4Query } from './auth-v4.js';

export type { AuthContext, SignedRequest } from './auth-util.js';

const V4_ONLY = 'this store verifies V4 signatures (OSS4-HMAC-SHA256) only: sign with ali-oss `authorizationV4: true` and `signatureUrlV4`';

/**
 * Verifies the request's V4 signature (header or URL) and returns the key it was made with. ferry
 * signs everything V4, so V1 is refused with a message that says so rather than verified. There is no
 * anonymous access: an unsigned request is AccessDenied.
 */
export function authenticate(ctx: AuthContext, req: SignedRequest): Credentials {
  const authorization = requestHeader(req, 'authorization');
  if (authorization !== undefined) {
    if (authorization.startsWith('OSS4-HMAC-SHA256 ')) return verifyV4Header(ctx, req, authorization);
    // What OSS answers for an Authorization it does not recognise, with the reason spelled out.
    if (authorization.startsWith('OSS ')) throw new OssError(400, 'InvalidArgument', `Authorization header is invalid: V1 signatures are not supported; ${V4_ONLY}.`);
    throw invalidAuthorization();
  }
  if (queryGet(req.query, 'x-oss-signature-version') === 'OSS4-HMAC-SHA256') return verifyV4Query(ctx, req);
  if (queryHas(req.query, 'OSSAccessKeyId') || queryHas(req.query, 'Signature')) {
    throw accessDenied(`V1 signed URLs (OSSAccessKeyId, Expires, Signature) are not supported; ${V4_ONLY}.`);
  }
  throw accessDenied('Anonymous access is not allowed: sign the request (V4, OSS4-HMAC-SHA256).');
}
