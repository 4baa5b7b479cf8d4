import { subResourceNames } from './auth-v1.js';
import { OssError, methodNotAllowed } from './errors.js';
import { sendEmpty, type OssContext } from './http.js';
import { listObjects, listObjectsV2 } from './list.js';
import { abortUpload, completeUpload, initiateUpload, listParts, uploadPart } from './multipart.js';
import { deleteObject, getObject, putObject } from './objects.js';
import { queryGet } from './query.js';

/**
 * Sub-resources that only shape the response, carry credentials or page a listing (listV2 signs
 * continuation-token in V1); they never select an operation.
 */
const PASSIVE = /^(response-|security-token$|continuation-token$)/;

function notImplemented(what: string): OssError {
  return new OssError(501, 'NotImplemented', `${what} is not supported by the local OSS store.`);
}

/** Dispatches on (method, bucket or object, sub-resources) the way OSS does. */
export async function route(ctx: OssContext): Promise<void> {
  const subs = subResourceNames(ctx.query).filter((name) => !PASSIVE.test(name));
  const only = (...names: string[]): boolean => subs.length === names.length && names.every((name) => subs.includes(name));
  const describe = `${ctx.method} ${subs.length ? `?${subs.join('&')}` : ''} on ${ctx.address.key === '' ? 'a bucket' : 'an object'}`;

  if (ctx.address.key === '') {
    // Object operations aimed at the bucket itself mean the object key was empty.
    if (subs.includes('uploadId') || subs.includes('partNumber') || (ctx.method === 'POST' && only('uploads'))) {
      throw new OssError(400, 'InvalidObjectName', 'The specified object is not valid: the key is empty.');
    }
    if (!only()) throw notImplemented(describe);
    const { bucket } = ctx.address;
    switch (ctx.method) {
      case 'GET':
        return queryGet(ctx.query, 'list-type') === '2' ? listObjectsV2(ctx) : listObjects(ctx);
      case 'PUT':
        await ctx.store.createBucket(bucket);
        return sendEmpty(ctx.res, 200, { location: `/${bucket}` });
      case 'DELETE':
        await ctx.store.deleteBucket(bucket);
        return sendEmpty(ctx.res, 204);
      case 'HEAD':
        await ctx.store.assertBucket(bucket);
        return sendEmpty(ctx.res, 200);
      default:
        throw methodNotAllowed();
    }
  }

  switch (ctx.method) {
    case 'PUT':
      if (only()) return putObject(ctx);
      if (only('partNumber', 'uploadId')) return uploadPart(ctx);
      break;
    case 'GET':
      if (only()) return getObject(ctx, true);
      if (only('uploadId')) return listParts(ctx);
      break;
    case 'HEAD':
      // GetObjectMeta (`?objectMeta`) is a HEAD with a smaller answer; the full one is a superset.
      if (only() || only('objectMeta')) return getObject(ctx, false);
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
