import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { ossEnv } from '../../helpers/oss-env.js';
import { MemoryStore } from '../fakes.js';

// The ObjectStore methods beyond plain put/get: through ali-oss against the local OSS store, and the
// same checks on the in-memory store other tests use, so it behaves alike.

const KEY = { accessKeyId: 'LTAI-store', accessKeySecret: 'store-secret' };
let oss: OssServer;
let dir: string;
let ossStore: ObjectStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-object-store-'));
  oss = await startOssServer({ dataDir: dir, port: 0, credentials: [KEY], buckets: ['ferry'] });
  ossStore = createObjectStore(storageTarget(loadConfig(ossEnv(oss, KEY)).oss));
});

afterAll(async () => {
  await oss.close();
  await rm(dir, { recursive: true, force: true });
});

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe.each([
  ['ali-oss on the local OSS store', () => ossStore],
  ['MemoryStore', () => new MemoryStore() as ObjectStore],
])('ObjectStore: %s', (_name, storeOf) => {
  let store: ObjectStore;
  beforeAll(() => {
    store = storeOf();
  });

  it('streams an object, and answers undefined for a missing one', async () => {
    await store.put('stream/a.txt', Buffer.from('streamed'));
    const stream = await store.getStream('stream/a.txt');
    expect(stream && (await text(stream))).toBe('streamed');
    expect(await store.getStream('stream/missing.txt')).toBeUndefined();
  });

  it('creates with putIfAbsent once, then refuses without changing the object', async () => {
    expect(await store.putIfAbsent('once/a.json', Buffer.from('first'))).toBe(true);
    expect(await store.putIfAbsent('once/a.json', Buffer.from('second'))).toBe(false);
    expect(await store.getText('once/a.json')).toBe('first');
  });

  it('deletes an object, and a missing key without complaint', async () => {
    await store.put('gone/a.txt', Buffer.from('x'));
    await store.delete('gone/a.txt');
    expect(await store.getText('gone/a.txt')).toBeUndefined();
    await expect(store.delete('gone/never.txt')).resolves.toBeUndefined();
  });

  it('lists every object under a prefix across pages, in key order', async () => {
    // One more than a page (1000 keys), so the listing has to follow the marker.
    const keys = Array.from({ length: 1001 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 100) await Promise.all(keys.slice(i, i + 100).map((key) => store.put(key, Buffer.from(key))));
    await store.put('many-not/x', Buffer.from('outside the prefix'));
    const listed = await store.list('many/');
    expect(listed.map((object) => object.key)).toEqual(keys);
    expect(listed[0]).toEqual({ key: 'many/0000', size: 9, lastModified: expect.any(Number) });
    expect(Number.isFinite(listed[0]?.lastModified)).toBe(true);
    expect(await store.list('none/')).toEqual([]);
  });
});

describe('ObjectStore on OSS', () => {

  it('reports a real failure as STORAGE_FAILED', async () => {
    const broken = createObjectStore(storageTarget(loadConfig(ossEnv(oss, KEY, 'no-such-bucket')).oss));
    await expect(broken.list('x/')).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await expect(broken.putIfAbsent('x', Buffer.from('x'))).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    await expect(broken.delete('x')).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
  });
});
