import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, readBody } from '../../util/body.js';
import { OssError } from './errors.js';
import type { QueryParam } from './query.js';
import type { ObjectStore } from './store.js';
import type { OssAddress } from './types.js';
import { renderXml, type XmlNode } from './xml.js';

/** Everything a handler needs about one authenticated request. */
export interface OssContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  query: readonly QueryParam[];
  address: OssAddress;
  requestId: string;
  store: ObjectStore;
}

/** A request header's value, repeated ones joined with ','. Takes anything with `headers` (a request, a SignedRequest). */
export function requestHeader(req: { headers: IncomingHttpHeaders }, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function sendXml(res: ServerResponse, status: number, root: string, content: XmlNode): void {
  const body = renderXml(root, content);
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-length': '0' });
  res.end();
}

/**
 * Renders an error the way OSS does. HEAD responses cannot carry a body, so (like OSS) the same XML
 * goes base64-encoded into `x-oss-err`, which ali-oss decodes into `err.code`.
 */
export function sendError(res: ServerResponse, method: string, requestId: string, hostId: string, error: OssError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = renderXml('Error', [
    ['Code', error.code],
    ['Message', error.message],
    ['RequestId', requestId],
    ['HostId', hostId],
    ...Object.entries(error.details).map(([name, value]): [string, string] => [name, value]),
  ]);
  if (method === 'HEAD') {
    res.writeHead(error.status, { 'x-oss-err': Buffer.from(body).toString('base64'), 'content-length': '0' });
    res.end();
    return;
  }
  res.writeHead(error.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Reads a small request body (e.g. CompleteMultipartUpload XML), refusing anything larger than `max`. */
export async function readSmallBody(req: IncomingMessage, max: number): Promise<string> {
  try {
    return (await readBody(req, max)).toString('utf8');
  } catch (error) {
    if (error instanceof BodyTooLargeError) throw new OssError(400, 'EntityTooLarge', `The request body must be at most ${max} bytes.`);
    throw error;
  }
}

/** Headers that describe an object and are stored with it (OSS keeps exactly these plus x-oss-meta-*). */
const STORED_HEADERS = ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires'];
const MAX_USER_META_BYTES = 8 * 1024;

export function objectHeadersFrom(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  let metaBytes = 0;
  for (const name of Object.keys(req.headers)) {
    const value = requestHeader(req, name);
    if (value === undefined) continue;
    if (name.startsWith('x-oss-meta-')) {
      metaBytes += name.length + value.length;
      headers[name] = value;
    } else if (STORED_HEADERS.includes(name)) {
      headers[name] = value;
    }
  }
  if (metaBytes > MAX_USER_META_BYTES) {
    throw new OssError(400, 'InvalidArgument', `User metadata (x-oss-meta-*) must not exceed ${MAX_USER_META_BYTES} bytes.`);
  }
  headers['content-type'] ??= 'application/octet-stream';
  return headers;
}

/** `x-oss-forbid-overwrite`: OSS takes `true` or `false` and refuses anything else (400 InvalidArgument). */
export function isForbidOverwrite(req: IncomingMessage): boolean {
  const value = requestHeader(req, 'x-oss-forbid-overwrite');
  if (value === undefined) return false;
  const flag = value.trim().toLowerCase();
  if (flag !== 'true' && flag !== 'false') {
    throw new OssError(400, 'InvalidArgument', 'x-oss-forbid-overwrite must be true or false.', { ArgumentName: 'x-oss-forbid-overwrite', ArgumentValue: value });
  }
  return flag === 'true';
}
