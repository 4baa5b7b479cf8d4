import OSS from 'ali-oss';
import { Readable } from 'node:stream';
import type { OssConfig } from '../config.js';
import type { Credentials } from '../../protocol/credentials.js';
import { FerryError } from '../../protocol/errors.js';
import { isTransient } from './transient.js';

/** Everything else sees only this slice, so the SDK's loose types stay in this file. */
export interface ObjectStore {
  put(key: string, body: Buffer, headers?: Record<string, string>): Promise<void>;
  getText(key: string): Promise<string | undefined>;
  /** The object's bytes as they arrive; `undefined` when there is no such key. */
  getStream(key: string): Promise<Readable | undefined>;
  /**
   * Creates the object unless the key exists (`x-oss-forbid-overwrite`, atomic in OSS): true if this
   * call created it, false if the key was already there.
   */
  putIfAbsent(key: string, body: Buffer, headers?: Record<string, string>): Promise<boolean>;
  /** Removing a missing key succeeds, as in OSS. */
  delete(key: string): Promise<void>;
  /** Every object under `prefix` (all pages), in key order. */
  list(prefix: string): Promise<ListedObject[]>;
  initMultipart(key: string, headers?: Record<string, string>): Promise<string>;
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string>;
  completeMultipart(key: string, uploadId: string, parts: { number: number; etag: string }[]): Promise<void>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** A GET URL signed for the public endpoint. */
  signGetUrl(key: string, expiresSeconds: number, query?: Record<string, string>): Promise<string>;
}

export interface ListedObject {
  key: string;
  /** Milliseconds since the epoch, by the store's clock. */
  lastModified: number;
  size: number;
}

export interface StorageTarget extends OssConfig {
  bucket: string;
  endpoint: string;
  credentials: Credentials;
}

// The fixed `FERRY_OSS_*` key if set (it signs URLs that outlive STS tokens), else the invocation's STS
// credentials, else FC's env ones.
export function storageTarget(config: OssConfig, credentials?: Credentials): StorageTarget {
  const creds = config.fixedCredentials ?? credentials ?? config.credentials;
  if (!config.bucket || !config.endpoint || !creds) {
    throw new FerryError(
      'STORAGE_NOT_CONFIGURED',
      'This worker has no object storage configured: set FERRY_OSS_BUCKET, FERRY_OSS_ENDPOINT and credentials (see the README).',
    );
  }
  return { ...config, bucket: config.bucket, endpoint: config.endpoint, credentials: creds };
}

interface AliOssInternals {
  // Not in the typings: the stream variant of uploadPart, which takes a size and a stream instead of a file path.
  _uploadPart(name: string, uploadId: string, partNo: number, data: { size: number; stream: Readable }): Promise<{ etag: string }>;
}

/** Neither an OSS endpoint (`*.aliyuncs.com`, bucket prepended) nor a path-style store. */
export function isBoundDomain(endpoint: string, pathStyle: boolean): boolean {
  return !pathStyle && !/(^|\.)aliyuncs\.com$/i.test(new URL(endpoint).hostname);
}

function aliClient(target: StorageTarget, endpoint: string): OSS {
  const { accessKeyId, accessKeySecret, securityToken } = target.credentials;
  const options = {
    endpoint,
    bucket: target.bucket,
    region: target.region,
    accessKeyId,
    accessKeySecret,
    stsToken: securityToken,
    authorizationV4: true,
    secure: endpoint.startsWith('https:'),
    timeout: 120_000,
    // Not in the typings: ali-oss's switch for path-style addressing (`/<bucket>/<key>`).
    sldEnable: target.pathStyle,
    // A domain bound to the bucket (custom domain, CDN) already names it: no `<bucket>.` prefix.
    cname: isBoundDomain(endpoint, target.pathStyle),
  };
  return new OSS(options as OSS.Options);
}

export function createObjectStore(target: StorageTarget): ObjectStore {
  const client = aliClient(target, target.endpoint);
  const publicClient = target.publicEndpoint && target.publicEndpoint !== target.endpoint ? aliClient(target, target.publicEndpoint) : client;
  const store: ObjectStore = {
    async put(key, body, headers) {
      await client.put(key, body, { headers });
    },
    async getText(key) {
      try {
        const result = await client.get(key);
        return Buffer.from(result.content as Buffer).toString('utf8');
      } catch (error) {
        if (isNoSuchKey(error)) return undefined;
        throw error;
      }
    },
    async getStream(key) {
      try {
        const result = await client.getStream(key);
        return result.stream as Readable;
      } catch (error) {
        if (isNoSuchKey(error)) return undefined;
        throw error;
      }
    },
    async putIfAbsent(key, body, headers) {
      try {
        await client.put(key, body, { headers: { ...headers, 'x-oss-forbid-overwrite': 'true' } });
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === 'FileAlreadyExists') return false;
        throw error;
      }
    },
    async delete(key) {
      // OSS answers 204 for a missing key too, so any error (a 404 would be NoSuchBucket) is a failure.
      await client.delete(key);
    },
    async list(prefix) {
      const listed: ListedObject[] = [];
      let marker: string | undefined;
      do {
        const page = await client.list({ prefix, 'max-keys': 1000, ...(marker !== undefined && { marker }) }, {});
        for (const object of page.objects ?? []) {
          listed.push({ key: object.name, lastModified: Date.parse(object.lastModified), size: object.size });
        }
        marker = page.isTruncated ? page.nextMarker : undefined;
      } while (marker);
      return listed;
    },
    async initMultipart(key, headers) {
      const result = await client.initMultipartUpload(key, { headers });
      return result.uploadId;
    },
    async uploadPart(key, uploadId, partNumber, body) {
      const internals = client as unknown as AliOssInternals;
      const result = await internals._uploadPart(key, uploadId, partNumber, { size: body.length, stream: Readable.from([body]) });
      return result.etag;
    },
    async completeMultipart(key, uploadId, parts) {
      await client.completeMultipartUpload(key, uploadId, parts);
    },
    async abortMultipart(key, uploadId) {
      await client.abortMultipartUpload(key, uploadId);
    },
    signGetUrl(key, expiresSeconds, query) {
      return publicClient.signatureUrlV4('GET', expiresSeconds, { headers: {}, queries: query ?? {} }, key);
    },
  };
  return withStorageErrors(store);
}

/**
 * Every SDK failure leaves this module as a FerryError naming the operation and OSS's own code: STORAGE_UNAVAILABLE
 * (503) when OSS did not answer or answered 5xx, which a retry may cure, else STORAGE_FAILED (502): OSS refused.
 */
function withStorageErrors(store: ObjectStore): ObjectStore {
  const wrapped = {} as Record<string, unknown>;
  for (const [name, method] of Object.entries(store) as [string, (...args: unknown[]) => Promise<unknown>][]) {
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await method(...args);
      } catch (error) {
        if (error instanceof FerryError) throw error;
        const e = error as { code?: string; status?: number; name?: string };
        const detail = e?.code ?? e?.name ?? 'no answer';
        if (isTransient(error)) {
          throw new FerryError('STORAGE_UNAVAILABLE', `Object storage is unavailable: no good answer during ${name} (${detail}). Try again in a minute; if it persists, the operator should check the OSS endpoint and OSS's status.`, { cause: error });
        }
        throw new FerryError('STORAGE_FAILED', `Object storage failed during ${name} (${detail}). Try again; if it persists, the operator should check the bucket and credentials.`, { cause: error });
      }
    };
  }
  return wrapped as unknown as ObjectStore;
}

function isNoSuchKey(error: unknown): boolean {
  const e = error as { code?: string; status?: number };
  return e?.code === 'NoSuchKey' || e?.status === 404;
}
