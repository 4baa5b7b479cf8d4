import { createHmac } from 'node:crypto';
import { safeEqual } from '../../util/safe-equal.js';
import { accessDenied } from './errors.js';
import { queryGet, type QueryParam } from './query.js';
import type { OssCredential } from './types.js';
import { requestHeader } from './http.js';
import {
  checkSecurityToken,
  checkSkew,
  expired,
  findCredential,
  invalidAuthorization,
  signatureMismatch,
  type AuthContext,
  type SignedRequest,
} from './auth-util.js';

/*
 * OSS signature V1: base64(HMAC-SHA1(secret, VERB \n Content-MD5 \n Content-Type \n Date \n
 * CanonicalizedOSSHeaders CanonicalizedResource)). Only these query parameters belong to the canonical
 * resource (the Java SDK's SIGNED_PARAMTERS, plus continuation-token which ali-oss listV2 signs);
 * everything else (prefix, marker, max-keys …) is left out, exactly as ali-oss signUtils does.
 */
const SUB_RESOURCES = new Set([
  'acl', 'uploads', 'location', 'cors', 'logging', 'website', 'referer', 'lifecycle', 'delete', 'append',
  'tagging', 'objectMeta', 'uploadId', 'partNumber', 'security-token', 'position', 'img', 'style',
  'styleName', 'replication', 'replicationProgress', 'replicationLocation', 'cname', 'bucketInfo', 'comp',
  'qos', 'live', 'status', 'vod', 'startTime', 'endTime', 'symlink', 'x-oss-process',
  'response-content-type', 'response-content-language', 'response-expires', 'response-cache-control',
  'response-content-disposition', 'response-content-encoding', 'udf', 'udfName', 'udfImage', 'udfId',
  'udfImageDesc', 'udfApplication', 'udfApplicationLog', 'restore', 'callback', 'callback-var', 'qosInfo',
  'policy', 'stat', 'encryption', 'versions', 'versioning', 'versionId', 'requestPayment',
  'x-oss-request-payer', 'sequential', 'inventory', 'inventoryId', 'continuation-token', 'asyncFetch',
  'worm', 'wormId', 'wormExtend', 'x-oss-traffic-limit', 'transferAcceleration', 'metaQuery',
  'resourceGroup', 'rtc', 'x-oss-async-process', 'responseHeader',
]);

/** Names of the sub-resources (in the V1 sense) a request carries; the router dispatches on them too. */
export function subResourceNames(query: readonly QueryParam[]): string[] {
  return query.map((param) => param.name).filter((name) => SUB_RESOURCES.has(name));
}

/** `/<bucket>/<key>` plus the signed sub-resources, sorted, values raw (not URL-encoded). */
function canonicalResourceV1(req: SignedRequest): string {
  const { bucket, key } = req.address;
  // Sorted by name the way ali-oss does (`Object.keys().sort()`), values raw, `name` alone when empty.
  const sorted = req.query
    .filter((param) => SUB_RESOURCES.has(param.name))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((param) => (param.value === '' ? param.name : `${param.name}=${param.value}`));
  const resource = `/${bucket}/${key}`;
  return sorted.length === 0 ? resource : `${resource}?${sorted.join('&')}`;
}

function stringToSignV1(req: SignedRequest, date: string): string {
  const ossHeaders = Object.keys(req.headers)
    .filter((name) => name.startsWith('x-oss-'))
    .sort()
    .map((name) => `${name}:${(requestHeader(req, name) ?? '').trim()}`);
  return [
    req.method,
    requestHeader(req, 'content-md5') ?? '',
    requestHeader(req, 'content-type') ?? '',
    date,
    ...ossHeaders,
    canonicalResourceV1(req),
  ].join('\n');
}

function signV1(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

/** `Authorization: OSS <AccessKeyId>:<Signature>` */
export function verifyV1Header(ctx: AuthContext, req: SignedRequest, authorization: string): OssCredential {
  const match = /^OSS ([^:\s]+):(\S+)$/.exec(authorization.trim());
  if (!match) throw invalidAuthorization();
  const [, accessKeyId = '', signature = ''] = match;
  const credential = findCredential(ctx, accessKeyId);
  // ali-oss signs x-oss-date in the Date slot and sends no Date header; other clients use Date.
  const dates = [requestHeader(req, 'x-oss-date'), requestHeader(req, 'date')].filter((d): d is string => d !== undefined);
  if (dates.length === 0) throw accessDenied('The request carries neither a Date nor an x-oss-date header.');
  checkSkew(ctx, Date.parse(dates[0] ?? ''));
  let firstStringToSign = '';
  for (const date of dates) {
    const stringToSign = stringToSignV1(req, date);
    firstStringToSign ||= stringToSign;
    if (safeEqual(signV1(credential.accessKeySecret, stringToSign), signature)) {
      checkSecurityToken(credential, requestHeader(req, 'x-oss-security-token'));
      return credential;
    }
  }
  throw signatureMismatch(firstStringToSign, accessKeyId);
}

/** Signed URL: `?OSSAccessKeyId=…&Expires=<unix seconds>&Signature=…`; Expires takes the Date slot. */
export function verifyV1Query(ctx: AuthContext, req: SignedRequest): OssCredential {
  const accessKeyId = queryGet(req.query, 'OSSAccessKeyId');
  const expires = queryGet(req.query, 'Expires');
  const signature = queryGet(req.query, 'Signature');
  if (!accessKeyId || !expires || !signature) {
    throw accessDenied('A signed URL needs OSSAccessKeyId, Expires and Signature.');
  }
  if (!/^\d+$/.test(expires)) throw accessDenied('The Expires parameter is not a valid number of seconds.');
  const credential = findCredential(ctx, accessKeyId);
  if (Number(expires) * 1000 < ctx.now()) throw expired();
  const stringToSign = stringToSignV1(req, expires);
  if (!safeEqual(signV1(credential.accessKeySecret, stringToSign), signature)) {
    throw signatureMismatch(stringToSign, accessKeyId);
  }
  checkSecurityToken(credential, queryGet(req.query, 'security-token') ?? requestHeader(req, 'x-oss-security-token'));
  return credential;
}
