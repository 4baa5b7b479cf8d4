import { assertBucketName } from './address.js';
import { OssError, methodNotAllowed } from './errors.js';
import type { OssContext } from './http.js';
import { listObjects } from './list.js';
import { abortUpload, completeUpload, initiateUpload, uploadPart } from './multipart.js';
import { deleteObject, getObject, putObject } from './objects.js';

/** Query parameters that select a multipart operation. */
const SELECTORS = new Set(['uploads', 'uploadId', 'partNumber']);

/**
 * Parameters that only shape an answer (response-* overrides, a listing's window) or carry the V4
 * signature. Any other name is a sub-resource (`acl`, `tagging`, `list-type` …), i.e. an operation the
 * store does not implement, so it is refused rather than ignored.
 */
const PASSIVE =
  /^(response-[a-z-]+|prefix|marker|max-keys|delimiter|encoding-type|x-oss-(signature-version|credential|date|expires|signature|additional-headers|security-token))$/;

function notImplemented(what: string): OssError {
  return new OssError(501, 'NotImplemented', `${what} is not supported by the local OSS store.`);
}

/** Dispatches on (method, bucket or object, selectors) the way OSS does, for the operations ferry uses. */
export async function route(ctx: OssContext): Promise<void> {
  // The bucket name is the one piece of a request that reaches a path: checked here, for every request.
  assertBucketName(ctx.address.bucket);
  const subs = ctx.query.map((param) => param.name).filter((name) => !PASSIVE.test(name));
  const only = (...wanted: string[]): boolean => subs.length === wanted.length && wanted.every((name) => subs.includes(name));
  const describe = `${ctx.method} ${subs.length ? `?${subs.join('&')}` : ''} on ${ctx.address.key === '' ? 'a bucket' : 'an object'}`;

  if (ctx.address.key === '') {
    // Object operations aimed at the bucket itself mean the object key was empty.
    if (subs.some((name) => SELECTORS.has(name))) {
      throw new OssError(400, 'InvalidObjectName', 'The specified object is not valid: the key is empty.');
    }
    if (ctx.method === 'GET' && only()) return listObjects(ctx);
    // Buckets come from the store's `buckets` option; nothing in ferry administers them over the wire.
    throw notImplemented(only() ? `Bucket administration (${ctx.method} on a bucket)` : describe);
  }

  switch (ctx.method) {
    case 'PUT':
      if (only()) return putObject(ctx);
      if (only('partNumber', 'uploadId')) return uploadPart(ctx);
      break;
    case 'GET':
      if (only()) return getObject(ctx, true);
      break;
    case 'HEAD':
      if (only()) return getObject(ctx, false);
      break;
    case 'DELETE':
      if (only()) return deleteObject(ctx);
      if (only('uploadId')) return abortUpload(ctx);
      break;
    case 'POST':
      if (only('uploads')) return initiateUpload(ctx);
      if (only('uploadId')) return completeUpload(ctx);
      break;
    default:
      throw methodNotAllowed();
  }
  throw notImplemented(describe);
}
