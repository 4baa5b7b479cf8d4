import type { Credentials } from '../../protocol/credentials.js';

export interface OssServerOptions {
  /** Folder holding one sub-folder per bucket, plus `.uploads/` and `.tmp/`. Created if missing. */
  dataDir: string;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /**
   * The host `pathStyleEndpoint` names, so signed links point where their readers can reach the store.
   * Default `localhost` when listening on loopback or every interface, else `host`.
   */
  publicHost?: string;
  /** Port to listen on; `0` (the default) picks a free one. */
  port?: number;
  /** Keys allowed to sign requests; one with a security token also needs that token on each request. Anonymous access is never allowed. */
  credentials: Credentials[];
  /** Region accepted in V4 signatures, OSS style (`oss-cn-hangzhou`) or standard (`cn-hangzhou`). Default `oss-cn-hangzhou`. */
  region?: string;
  /** Buckets created (as folders) at start if they do not exist yet: the only way to make one. */
  buckets?: string[];
  /**
   * Unfinished multipart uploads initiated longer ago than this are aborted, at start and then every
   * `abandonedUploadMs / 4` (at most hourly), like OSS's AbortMultipartUpload lifecycle rule. Default 1 day.
   */
  abandonedUploadMs?: number;
}

export interface OssServer {
  /** `http://<host>:<port>`, the endpoint to give ali-oss. */
  endpoint: string;
  /**
   * `http://<publicHost>:<port>`: with ali-oss option `sldEnable: true` this gives path-style URLs, which
   * `signatureUrlV4` needs to put the bucket in the URL.
   */
  pathStyleEndpoint: string;
  port: number;
  /** The region clients should be configured with (`oss-…`). */
  region: string;
  close(): Promise<void>;
}

/** Where a request points: a bucket, and an object key unless it is a bucket-level request. */
export interface OssAddress {
  bucket: string;
  key: string;
}

/** Stored next to each object (and each upload) as JSON. */
export interface ObjectMeta {
  key: string;
  /**
   * Where the bytes are in the bucket folder, a new name per write, so a record rename commits the
   * write: the data file of a PutObject, or the folder holding a multipart object's `parts`.
   */
  file: string;
  /** Multipart objects: the part files in `file`, in order; their concatenation is the object. */
  parts?: ObjectPart[];
  size: number;
  /** Quoted, upper-case, as OSS returns it. */
  etag: string;
  lastModified: string;
  type: 'Normal' | 'Multipart';
  /** Lower-cased response headers replayed on GET/HEAD: content-type, content-disposition, x-oss-meta-* … */
  headers: Record<string, string>;
}

/** What a record says about an object's bytes, provided by whatever puts them in place (store.ts). */
export type ObjectData = Omit<ObjectMeta, 'key' | 'file' | 'lastModified'>;

/** One part of a completed multipart object, kept as uploaded: completing copies no bytes. */
export interface ObjectPart {
  file: string;
  size: number;
}
