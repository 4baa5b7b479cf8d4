import { OssError } from './errors.js';
import type { OssAddress } from './types.js';

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const MAX_KEY_BYTES = 1023;

/*
 * ali-oss addresses the bucket in two ways against a loopback store:
 * - endpoint is an IP (the default setup): the path is `/<key>` and ali-oss overrides the Host header
 *   with `<bucket>.<region>.aliyuncs.com` (see ali-oss lib/common/utils/createRequest.js);
 * - `sldEnable: true`: the path is `/<bucket>/<key>` (path style), Host is the endpoint's.
 * `<bucket>.localhost` is accepted as a virtual host too. With an IP endpoint *and* `sldEnable`, ali-oss
 * sends both a bucket Host and a bucket path, which is ambiguous for keys that start with `<bucket>/`;
 * we return both readings and let the signature decide (it covers the full `/<bucket>/<key>`).
 */
const VIRTUAL_HOST = /^([a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.(?:oss-[a-z0-9-]+\.aliyuncs\.com|localhost)$/;

export function isValidBucketName(name: string): boolean {
  return BUCKET_NAME.test(name);
}

export function assertBucketName(name: string): void {
  if (!isValidBucketName(name)) {
    throw new OssError(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
  }
}

/** Object keys reach the disk only as a hash, but they are still checked like OSS (and stricter). */
export function assertObjectKey(key: string): void {
  const fail = (why: string): never => {
    throw new OssError(400, 'InvalidObjectName', `The specified object is not valid: ${why}.`, { ObjectName: key.slice(0, 200) });
  };
  if (key === '') fail('the key is empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) fail(`the key is longer than ${MAX_KEY_BYTES} bytes`);
  if (key.includes('\0')) fail('the key contains a NUL byte');
  if (key.startsWith('/') || key.startsWith('\\')) fail('the key starts with a slash');
  if (key.split(/[/\\]/).some((segment) => segment === '..' || segment === '.')) fail('the key has a "." or ".." segment');
}

function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    throw new OssError(400, 'InvalidURI', 'Could not parse the specified URI.');
  }
}

/**
 * The possible (bucket, key) readings of a request, most likely first. `key` is '' for bucket-level
 * requests. Throws for a request with no bucket at all (the service level is not implemented).
 */
export function resolveAddresses(hostHeader: string | undefined, rawPath: string): OssAddress[] {
  const hostname = (hostHeader ?? '').replace(/:\d+$/, '').toLowerCase();
  const path = decodePath(rawPath);
  const virtualBucket = VIRTUAL_HOST.exec(hostname)?.[1];
  const candidates: OssAddress[] = [];
  if (virtualBucket !== undefined) {
    candidates.push({ bucket: virtualBucket, key: path.slice(1) });
    const prefix = `/${virtualBucket}`;
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      candidates.push({ bucket: virtualBucket, key: path.slice(prefix.length + 1) });
    }
    return candidates;
  }
  const slash = path.indexOf('/', 1);
  const bucket = slash === -1 ? path.slice(1) : path.slice(1, slash);
  if (bucket === '') {
    throw new OssError(405, 'MethodNotAllowed', 'Service-level requests (ListBuckets) are not supported by the local store.');
  }
  return [{ bucket, key: slash === -1 ? '' : path.slice(slash + 1) }];
}
