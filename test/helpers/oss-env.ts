import type { OssServer } from '../../src/local/oss/index.js';

/** The worker's environment for a local OSS store: uploads on its IP endpoint, URLs signed path-style. */
export function ossEnv(oss: OssServer, key?: { accessKeyId: string; accessKeySecret: string }, bucket = 'ferry'): Record<string, string> {
  return {
    FERRY_OSS_ENDPOINT: oss.endpoint,
    FERRY_OSS_PUBLIC_ENDPOINT: oss.pathStyleEndpoint,
    FERRY_OSS_PATH_STYLE: '1',
    FERRY_OSS_BUCKET: bucket,
    FERRY_OSS_REGION: oss.region,
    ...(key && { FERRY_OSS_ACCESS_KEY_ID: key.accessKeyId, FERRY_OSS_ACCESS_KEY_SECRET: key.accessKeySecret }),
  };
}
