import { accessDenied } from './errors.js';
import { queryGet, queryHas } from './query.js';
import type { OssCredential } from './types.js';
import { requestHeader } from './http.js';
import { invalidAuthorization, type AuthContext, type SignedRequest } from './auth-util.js';
import { verifyV1Header, verifyV1Query } from './auth-v1.js';
import { verifyV4Header, verifyV4Query } from './auth-v4.js';

export type { AuthContext, SignedRequest } from './auth-util.js';

/**
 * Verifies whichever signature the request carries (V1 or V4, header or URL) and returns the key it
 * was made with. There is no anonymous access: an unsigned request is AccessDenied.
 */
export function authenticate(ctx: AuthContext, req: SignedRequest): OssCredential {
  const authorization = requestHeader(req, 'authorization');
  if (authorization !== undefined) {
    if (authorization.startsWith('OSS4-HMAC-SHA256 ')) return verifyV4Header(ctx, req, authorization);
    if (authorization.startsWith('OSS ')) return verifyV1Header(ctx, req, authorization);
    throw invalidAuthorization();
  }
  if (queryGet(req.query, 'x-oss-signature-version') === 'OSS4-HMAC-SHA256') return verifyV4Query(ctx, req);
  if (queryHas(req.query, 'OSSAccessKeyId') || queryHas(req.query, 'Signature')) return verifyV1Query(ctx, req);
  throw accessDenied('AccessDenied: anonymous access is not allowed; sign the request (V1 or V4).');
}
