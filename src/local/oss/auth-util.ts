import type { IncomingHttpHeaders } from 'node:http';
import { OssError, accessDenied } from './errors.js';
import type { QueryParam } from './query.js';
import type { Credentials } from '../../protocol/credentials.js';
import type { OssAddress } from './types.js';

/** What a signature covers. */
export interface SignedRequest {
  method: string;
  headers: IncomingHttpHeaders;
  query: readonly QueryParam[];
  address: OssAddress;
}

export interface AuthContext {
  credentials: ReadonlyMap<string, Credentials>;
  /** Standard region (`cn-hangzhou`), as V4 scopes carry it. */
  region: string;
  now: () => number;
}

/** OSS rejects header-signed requests whose date is more than 15 minutes off. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

export function findCredential(ctx: AuthContext, accessKeyId: string): Credentials {
  const credential = ctx.credentials.get(accessKeyId);
  if (!credential) {
    throw new OssError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.', {
      OSSAccessKeyId: accessKeyId,
    });
  }
  return credential;
}

/** An STS key is only valid together with its token, and a plain key never carries one. */
export function checkSecurityToken(credential: Credentials, provided: string | undefined): void {
  if ((credential.securityToken ?? undefined) !== (provided || undefined)) {
    throw new OssError(403, 'InvalidSecurityToken', 'The security token you provided is invalid.');
  }
}

export function signatureMismatch(stringToSign: string, accessKeyId: string): OssError {
  return new OssError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
    StringToSign: stringToSign,
    OSSAccessKeyId: accessKeyId,
  });
}

export function expired(): OssError {
  return accessDenied('Request has expired.');
}

export function checkSkew(ctx: AuthContext, dateMs: number): void {
  if (Number.isNaN(dateMs)) throw accessDenied('The request date is missing or not valid.');
  if (Math.abs(ctx.now() - dateMs) > MAX_SKEW_MS) {
    throw new OssError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.');
  }
}

export function invalidAuthorization(): OssError {
  return new OssError(400, 'InvalidArgument', 'Authorization header is invalid.');
}
