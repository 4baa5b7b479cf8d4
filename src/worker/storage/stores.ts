import type { OssConfig } from '../config.js';
import type { Credentials } from '../../protocol/credentials.js';
import { createObjectStore, storageTarget, type ObjectStore } from './oss-store.js';

/** The store for an invocation's credentials; throws STORAGE_NOT_CONFIGURED when there is no bucket, endpoint or key. */
export type StoreFor = (credentials: Credentials | undefined) => ObjectStore;

/** STS credentials change per invocation; a few clients are kept, beyond that they are all dropped. */
const MAX_CLIENTS = 16;

export function objectStores(config: OssConfig): StoreFor {
  const stores = new Map<string, ObjectStore>();
  return (credentials) => {
    const target = storageTarget(config, credentials);
    const id = `${target.credentials.accessKeyId}:${target.credentials.securityToken ?? ''}`;
    let store = stores.get(id);
    if (!store) {
      if (stores.size > MAX_CLIENTS) stores.clear();
      store = createObjectStore(target);
      stores.set(id, store);
    }
    return store;
  };
}
