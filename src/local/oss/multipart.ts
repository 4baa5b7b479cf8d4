import { assertObjectKey } from './address.js';
import { fileAlreadyExists, invalidArgument } from './errors.js';
import { isForbidOverwrite, objectHeadersFrom, readSmallBody, sendEmpty, sendXml, type OssContext } from './http.js';
import { receiveVerified } from './objects.js';
import { queryGet } from './query.js';
import type { Place } from './store.js';
import { parseCompleteMultipart } from './xml.js';

const MAX_PART_NUMBER = 10_000;
/** 10,000 parts of about 100 bytes of XML each, with room to spare. */
const MAX_COMPLETE_BODY = 2 * 1024 * 1024;

async function checked(ctx: OssContext): Promise<{ bucket: string; key: string }> {
  assertObjectKey(ctx.address.key);
  await ctx.store.assertBucket(ctx.address.bucket);
  return ctx.address;
}

/** POST ?uploads */
export async function initiateUpload(ctx: OssContext): Promise<void> {
  const { bucket, key } = await checked(ctx);
  const forbidOverwrite = isForbidOverwrite(ctx.req);
  if (forbidOverwrite && (await ctx.store.head(bucket, key))) throw fileAlreadyExists(key);
  const upload = await ctx.store.uploads.create(bucket, key, objectHeadersFrom(ctx.req), forbidOverwrite);
  sendXml(ctx.res, 200, 'InitiateMultipartUploadResult', [
    ['Bucket', bucket],
    ['Key', key],
    ['UploadId', upload.uploadId],
  ]);
}

/** PUT ?partNumber=N&uploadId=ID */
export async function uploadPart(ctx: OssContext): Promise<void> {
  const { bucket, key } = await checked(ctx);
  const text = queryGet(ctx.query, 'partNumber') ?? '';
  const partNumber = /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(partNumber >= 1 && partNumber <= MAX_PART_NUMBER)) {
    throw invalidArgument(`Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive.`, 'partNumber', text);
  }
  const upload = await ctx.store.uploads.get(queryGet(ctx.query, 'uploadId') ?? '', bucket, key);
  const body = await receiveVerified(ctx);
  const part = await ctx.store.uploads.putPart(upload, partNumber, body);
  sendEmpty(ctx.res, 200, { etag: part.etag });
}

/**
 * POST ?uploadId=ID with the part list: checks it and makes the parts the object. They stay the files
 * they were uploaded as (see store.ts), so completing costs a rename, not a copy of the object.
 */
export async function completeUpload(ctx: OssContext): Promise<void> {
  const { bucket, key } = await checked(ctx);
  const upload = await ctx.store.uploads.get(queryGet(ctx.query, 'uploadId') ?? '', bucket, key);
  const parts = parseCompleteMultipart(await readSmallBody(ctx.req, MAX_COMPLETE_BODY));
  const forbidOverwrite = upload.forbidOverwrite || isForbidOverwrite(ctx.req);
  const place: Place = (folder, write) =>
    ctx.store.uploads.complete(upload, parts, folder, (claimed) => write({ ...claimed, type: 'Multipart', headers: upload.headers }));
  const meta = await ctx.store.commitMultipart(bucket, key, place, forbidOverwrite);
  ctx.res.setHeader('etag', meta.etag);
  sendXml(ctx.res, 200, 'CompleteMultipartUploadResult', [
    ['Location', `/${bucket}/${key}`],
    ['Bucket', bucket],
    ['Key', key],
    ['ETag', meta.etag],
  ]);
}

/** DELETE ?uploadId=ID */
export async function abortUpload(ctx: OssContext): Promise<void> {
  const { bucket, key } = await checked(ctx);
  const upload = await ctx.store.uploads.get(queryGet(ctx.query, 'uploadId') ?? '', bucket, key);
  await ctx.store.uploads.remove(upload.uploadId);
  sendEmpty(ctx.res, 204);
}
