import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { UPLOADS_PREFIX, abortDeadUploads, trackUploads } from '../../../src/worker/storage/upload-records.js';
import { uploadStream } from '../../../src/worker/storage/upload.js';
import { ossEnv } from '../../helpers/oss-env.js';

// Records of multipart uploads under way, against the local OSS store through ali-oss; a worker that
// "dies" here is one that started an upload and never finished it (the process test is in test/e2e).
const KEY = { accessKeyId: 'LTAI-uploads', accessKeySecret: 'uploads-secret' };
let dir: string;
let oss: OssServer;
let store: ObjectStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-upload-records-'));
  oss = await startOssServer({ dataDir: join(dir, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  store = createObjectStore(storageTarget(loadConfig(ossEnv(oss, KEY)).oss));
});

afterAll(async () => {
  await oss?.close();
  await rm(dir, { recursive: true, force: true });
});

const unfinished = (): Promise<string[]> => readdir(join(dir, 'oss', '.uploads'));
const records = async (): Promise<string[]> => (await store.list(UPLOADS_PREFIX)).map((object) => object.key);

async function* chunks(parts: number): AsyncIterable<Buffer> {
  for (let n = 0; n < parts; n++) yield randomBytes(100 * 1024);
}

describe('upload records', () => {
  it('exist while an upload goes on and are gone once it completes', async () => {
    const tracked = trackUploads(store, { job: 'job-complete-0001', renewMs: 60_000 });
    let seen: string[] = [];
    await uploadStream(tracked, 'archives/done.zip', chunks(3), {
      partSize: 100 * 1024,
      partsInFlight: 1,
      onUploaded: () => void records().then((keys) => (seen = keys.length > 0 ? keys : seen)),
    });
    expect(seen.some((key) => key.startsWith(`${UPLOADS_PREFIX}job-complete-0001/`))).toBe(true);
    expect(await records()).toEqual([]);
    expect(await unfinished()).toEqual([]);
  });

  it('name a dead upload: the job\'s next attempt aborts it, whatever its age', async () => {
    const tracked = trackUploads(store, { job: 'job-died-000001', renewMs: 60_000 });
    await tracked.initMultipart('archives/died.zip');
    expect(await unfinished()).toHaveLength(1);
    // Another job's sweep leaves it alone.
    expect(await abortDeadUploads(store, { job: 'job-other-00001' })).toBe(0);
    expect(await abortDeadUploads(store, { job: 'job-died-000001' })).toBe(1);
    expect(await unfinished()).toEqual([]);
    expect(await records()).toEqual([]);
  });

  it('are swept by age at an instance\'s start: fresh ones stay, stale ones are aborted', async () => {
    const now = 1_000_000;
    const tracked = trackUploads(store, { job: 'job-stale-00001', renewMs: 60_000, clock: () => now });
    await tracked.initMultipart('archives/stale.zip');
    expect(await abortDeadUploads(store, { staleAfterMs: 30_000, clock: () => now + 30_000 })).toBe(0);
    expect(await unfinished()).toHaveLength(1);
    expect(await abortDeadUploads(store, { staleAfterMs: 30_000, clock: () => now + 30_001 })).toBe(1);
    expect(await unfinished()).toEqual([]);
    expect(await records()).toEqual([]);
  });
});

describe('the local OSS store', () => {
  it('aborts unfinished uploads older than abandonedUploadMs when it starts', async () => {
    const data = join(dir, 'abandoned');
    const first = await startOssServer({ dataDir: data, port: 0, credentials: [KEY], buckets: ['ferry'] });
    const client = createObjectStore(storageTarget(loadConfig(ossEnv(first, KEY)).oss));
    await client.initMultipart('archives/left.zip');
    await first.close();
    expect(await readdir(join(data, '.uploads'))).toHaveLength(1);
    // A day (the default) has not passed: kept; with a bound already passed: aborted.
    const kept = await startOssServer({ dataDir: data, port: 0, credentials: [KEY], buckets: ['ferry'] });
    await kept.close();
    expect(await readdir(join(data, '.uploads'))).toHaveLength(1);
    const swept = await startOssServer({ dataDir: data, port: 0, credentials: [KEY], buckets: ['ferry'], abandonedUploadMs: 0 });
    await swept.close();
    expect(await readdir(join(data, '.uploads'))).toEqual([]);
  });
});
