import { join } from 'node:path';
import { loadOrCreateCredentials } from '../../src/local/credentials.js';
import type { LocalStack } from '../../src/local/stack.js';
import { loadConfig } from '../../src/worker/config.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../src/worker/storage/oss-store.js';

/** A client of a local stack's bucket with the stack's own key, straight to its store: for leases and objects. */
export async function stackBucket(dataDir: string, stack: LocalStack): Promise<ObjectStore> {
  const creds = await loadOrCreateCredentials(dataDir);
  const config = loadConfig({
    FERRY_OSS_ENDPOINT: stack.oss,
    FERRY_OSS_PATH_STYLE: '1',
    FERRY_OSS_BUCKET: stack.bucket,
    FERRY_OSS_REGION: 'oss-cn-hongkong',
    FERRY_OSS_ACCESS_KEY_ID: creds.accessKey.accessKeyId,
    FERRY_OSS_ACCESS_KEY_SECRET: creds.accessKey.accessKeySecret,
    FERRY_WORK_DIR: join(dataDir, 'work'),
  });
  return createObjectStore(storageTarget(config.oss));
}
