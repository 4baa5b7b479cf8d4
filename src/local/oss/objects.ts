import { validateHeaderValue } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertObjectKey } from './address.js';
import { receiveBody, removeQuietly, type ReceivedBody } from './disk.js';
import { OssError, fileAlreadyExists, invalidArgument, noSuchKey } from './errors.js';
import { isForbidOverwrite, objectHeadersFrom, requestHeader, sendEmpty, type OssContext } from './http.js';
import { queryGet } from './query.js';
import type { ObjectMeta } from './types.js';

/** OSS's limit for a single PutObject (larger objects need multipart) and for one part. */
const MAX_BODY_BYTES = 5 * 1024 ** 3;

/** Checks a claimed Content-MD5 early, so a malformed one fails before the body is read. */
function claimedMd5(ctx: OssContext): Buffer | undefined {
  const value = requestHeader(ctx.req, 'content-md5');
  if (value === undefined) return undefined;
  const digest = Buffer.from(value, 'base64');
  if (digest.length !== 16 || digest.toString('base64') !== value) {
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.');
  }
  return digest;
}

/** The sha256 a V4 client may claim for the body; UNSIGNED-PAYLOAD (what ali-oss sends) claims nothing. */
function claimedSha256(ctx: OssContext): string | undefined {
  const value = requestHeader(ctx.req, 'x-oss-content-sha256');
  return value !== undefined && /^[0-9a-f]{64}$/i.test(value) ? value.toLowerCase() : undefined;
}

/** Receives the body of a PutObject or UploadPart into a temp file, checked against the digests the client claimed. */
export async function receiveVerified(ctx: OssContext): Promise<ReceivedBody> {
  const md5 = claimedMd5(ctx);
  const sha256 = claimedSha256(ctx);
  const body = await receiveBody(ctx.req, { tmpDir: ctx.store.tmpDir, maxBytes: MAX_BODY_BYTES, sha256: sha256 !== undefined });
  if ((md5 && !md5.equals(body.md5)) || (sha256 && sha256 !== body.sha256)) {
    await removeQuietly(body.path);
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 or x-oss-content-sha256 you specified did not match what we received.');
  }
  return body;
}

export async function putObject(ctx: OssContext): Promise<void> {
  const { bucket, key } = ctx.address;
  assertObjectKey(key);
  await ctx.store.assertBucket(bucket);
  if (requestHeader(ctx.req, 'x-oss-copy-source') !== undefined) {
    throw new OssError(501, 'NotImplemented', 'CopyObject is not supported by the local store.');
  }
  const forbidOverwrite = isForbidOverwrite(ctx.req);
  // Fail before receiving a body that could never be stored.
  if (forbidOverwrite && (await ctx.store.head(bucket, key))) throw fileAlreadyExists(key);
  const headers = objectHeadersFrom(ctx.req);
  const body = await receiveVerified(ctx);
  const etag = `"${body.md5.toString('hex').toUpperCase()}"`;
  await ctx.store.commit(bucket, key, body.path, { size: body.size, etag, type: 'Normal', headers }, forbidOverwrite);
  sendEmpty(ctx.res, 200, { etag, 'content-md5': body.md5.toString('base64') });
}

/** Query parameters that override response headers on GET, as OSS allows for signed requests. */
const RESPONSE_OVERRIDES: Record<string, string> = {
  'response-content-type': 'content-type',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding',
  'response-content-language': 'content-language',
  'response-cache-control': 'cache-control',
  'response-expires': 'expires',
};

function responseHeaders(ctx: OssContext, meta: ObjectMeta): Record<string, string> {
  const headers: Record<string, string> = {
    ...meta.headers,
    etag: meta.etag,
    'last-modified': new Date(meta.lastModified).toUTCString(),
    'accept-ranges': 'bytes',
    'x-oss-object-type': meta.type,
    'x-oss-storage-class': 'Standard',
  };
  for (const [param, name] of Object.entries(RESPONSE_OVERRIDES)) {
    const value = queryGet(ctx.query, param);
    if (value === undefined) continue;
    // Checked with writeHead's own rule (Latin-1, no control characters), before any file is opened.
    try {
      validateHeaderValue(name, value);
    } catch {
      throw invalidArgument(`${param} must be a valid HTTP header value: Latin-1 text without control characters.`, param, value);
    }
    headers[name] = value;
  }
  return headers;
}

/** 304 / 412 for conditional requests; `undefined` when the request should proceed. */
function preconditionStatus(ctx: OssContext, meta: ObjectMeta): number | undefined {
  const etag = meta.etag.replace(/"/g, '');
  const matches = (list: string): boolean => list.split(',').some((t) => t.trim() === '*' || t.trim().replace(/"/g, '') === etag);
  const modified = Math.floor(Date.parse(meta.lastModified) / 1000);
  const since = (name: string): number => Math.floor(Date.parse(requestHeader(ctx.req, name) ?? '') / 1000);
  const ifMatch = requestHeader(ctx.req, 'if-match');
  const ifNoneMatch = requestHeader(ctx.req, 'if-none-match');
  if (ifMatch !== undefined && !matches(ifMatch)) return 412;
  if (ifMatch === undefined && modified > since('if-unmodified-since')) return 412;
  if (ifNoneMatch !== undefined) return matches(ifNoneMatch) ? 304 : undefined;
  if (modified <= since('if-modified-since')) return 304;
  return undefined;
}

/**
 * `bytes=a-b`, `bytes=a-`, `bytes=-n`. Like OSS, a syntactically invalid or multi-range header is
 * ignored (the whole object is sent); a range starting past the end is 416 InvalidRange.
 */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const [first, last] = [match[1] ?? '', match[2] ?? ''];
  if (first === '') {
    const suffix = Math.min(Number(last), size);
    return suffix === 0 ? undefined : { start: size - suffix, end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size) throw new OssError(416, 'InvalidRange', 'The requested range cannot be satisfied.', { ObjectSize: String(size) });
  return start > end ? undefined : { start, end };
}

export async function getObject(ctx: OssContext, withBody: boolean): Promise<void> {
  const { bucket, key } = ctx.address;
  assertObjectKey(key);
  await ctx.store.assertBucket(bucket);
  // A concurrent overwrite may remove the files of the record just read: then read the new one.
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const meta = await ctx.store.head(bucket, key);
    if (!meta) break;
    if (await sendObject(ctx, meta, withBody)) return;
  }
  throw noSuchKey(key);
}

/** Answers with the object `meta` describes; false, having sent nothing, when its files are already gone. */
async function sendObject(ctx: OssContext, meta: ObjectMeta, withBody: boolean): Promise<boolean> {
  const status = preconditionStatus(ctx, meta);
  if (status === 412) throw new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
  const headers = responseHeaders(ctx, meta);
  if (status === 304) {
    sendEmpty(ctx.res, 304, { etag: meta.etag, 'last-modified': headers['last-modified'] ?? '' });
    return true;
  }
  const range = meta.size === 0 ? undefined : parseRange(requestHeader(ctx.req, 'range'), meta.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? meta.size - 1;
  let body: Readable | undefined;
  if (withBody && start <= end) {
    body = await ctx.store.read(ctx.address.bucket, meta, start, end);
    if (!body) return false;
  }
  if (range) headers['content-range'] = `bytes ${start}-${end}/${meta.size}`;
  headers['content-length'] = String(end - start + 1);
  try {
    ctx.res.writeHead(range ? 206 : 200, headers);
  } catch (error) {
    // The files are open and nothing will read them: destroying the body closes them. writeHead may
    // have set some headers before it threw (e.g. on a stored value it refuses); the error has none.
    body?.destroy();
    for (const name of Object.keys(headers)) ctx.res.removeHeader(name);
    throw error;
  }
  if (!body) {
    ctx.res.end();
    return true;
  }
  // A client that hangs up mid-download is not an error worth reporting.
  await pipeline(body, ctx.res).catch(() => undefined);
  return true;
}

export async function deleteObject(ctx: OssContext): Promise<void> {
  const { bucket, key } = ctx.address;
  assertObjectKey(key);
  await ctx.store.assertBucket(bucket);
  await ctx.store.delete(bucket, key);
  sendEmpty(ctx.res, 204);
}
