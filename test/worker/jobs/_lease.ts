import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { loadConfig } from '../../../src/worker/config.js';
import { generationKey, generations, leaseBody, leasePrefix, readLease, type LeaseRecord } from '../../../src/worker/jobs/lease-objects.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { ossEnv } from '../../helpers/oss-env.js';

// Shared by the lease tests, and meant for runner-level tests of one build across instances.

const KEY = { accessKeyId: 'LTAI-lease', accessKeySecret: 'lease-secret' };

/** A local OSS store and a way to make clients of it: each client stands for one worker instance. */
export interface LeaseBucket {
  oss: OssServer;
  /** A new ali-oss client on the bucket, as a separate instance would have. */
  instance(): ObjectStore;
  close(): Promise<void>;
}

export async function startLeaseBucket(): Promise<LeaseBucket> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-lease-'));
  const oss = await startOssServer({ dataDir: dir, port: 0, credentials: [KEY], buckets: ['ferry'] });
  const config = loadConfig(ossEnv(oss, KEY));
  return {
    oss,
    instance: () => createObjectStore(storageTarget(config.oss)),
    async close() {
      await oss.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A stand-in artifact: one JSON object, written last as a real manifest is. Counts its builds. */
export class TestArtifact {
  builds = 0;
  constructor(readonly key: string) {}

  lookup(store: ObjectStore): () => Promise<string | undefined> {
    return async () => {
      const text = await store.getText(this.key);
      return text === undefined ? undefined : (JSON.parse(text) as { builtBy: string }).builtBy;
    };
  }

  /** Writes the artifact as `builtBy` and returns that name. */
  async write(store: ObjectStore, builtBy: string): Promise<string> {
    this.builds += 1;
    await store.put(this.key, Buffer.from(JSON.stringify({ builtBy })));
    return builtBy;
  }
}

/** The lease generations of `key` and their records, oldest first. */
export async function leaseState(store: ObjectStore, key: string): Promise<{ generation: number; record: LeaseRecord | undefined }[]> {
  const prefix = leasePrefix(key);
  const found = await generations(store, prefix);
  return Promise.all(found.map(async (generation) => ({ generation, record: await readLease(store, generationKey(prefix, generation)) })));
}

/**
 * Writes generation `generation` of `key`'s lease as another instance would have: by default one that
 * took it just now and never renews (a frozen or crashed holder); an old `renewedAt` makes it stale.
 */
export async function plantLease(store: ObjectStore, key: string, record: Partial<LeaseRecord> = {}, generation = 1): Promise<LeaseRecord> {
  const now = Date.now();
  const planted: LeaseRecord = { owner: 'another instance', token: 'planted', key, takenAt: now, renewedAt: now, ...record };
  await store.put(generationKey(leasePrefix(key), generation), leaseBody(planted));
  return planted;
}

/**
 * `store`, recording the key of every write (put, putIfAbsent, a multipart upload's start), so a
 * runner-level test can count an artifact's builds by its uploads across instances.
 */
export function recordingWrites(store: ObjectStore): { store: ObjectStore; writes: string[] } {
  const writes: string[] = [];
  const recorded: ObjectStore = {
    ...store,
    put: (key, body, headers) => (writes.push(key), store.put(key, body, headers)),
    putIfAbsent: (key, body, headers) => (writes.push(key), store.putIfAbsent(key, body, headers)),
    initMultipart: (key, headers) => (writes.push(key), store.initMultipart(key, headers)),
  };
  return { store: recorded, writes };
}

/** A promise with its resolve at hand. */
export function gate<T = void>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
