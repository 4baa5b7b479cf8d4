/** One access key the local store accepts. */
export interface OssCredential {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, every request signed with this key must carry the same STS token. */
  securityToken?: string;
}

export interface OssServerOptions {
  /** Folder holding one sub-folder per bucket, plus `.uploads/` and `.tmp/`. Created if missing. */
  dataDir: string;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; `0` (the default) picks a free one. */
  port?: number;
  /** Keys allowed to sign requests. Anonymous access is never allowed. */
  credentials: OssCredential[];
  /** Region accepted in V4 signatures, OSS style (`oss-cn-hangzhou`) or standard (`cn-hangzhou`). Default `oss-cn-hangzhou`. */
  region?: string;
  /** Buckets created (as folders) at start if they do not exist yet. */
  buckets?: string[];
}

export interface OssServer {
  /** `http://<host>:<port>`, the endpoint to give ali-oss. */
  endpoint: string;
  /**
   * `http://localhost:<port>`: with ali-oss option `sldEnable: true` this gives path-style URLs,
   * which `signatureUrl` needs (ali-oss refuses to sign URLs for an IP endpoint).
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
  /** Name of the data file in the bucket folder; a new one per write, so a meta rename commits the write. */
  file: string;
  size: number;
  /** Quoted, upper-case, as OSS returns it. */
  etag: string;
  lastModified: string;
  type: 'Normal' | 'Multipart';
  /** Lower-cased response headers replayed on GET/HEAD: content-type, content-disposition, x-oss-meta-* … */
  headers: Record<string, string>;
}
