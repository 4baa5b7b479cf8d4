import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/worker/config.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { multipartCapacity, partSizeFor, uploadStream } from '../../../src/worker/storage/upload.js';
import { ossEnv } from '../../helpers/oss-env.js';

const KEY = { accessKeyId: 'LTAI-upload', accessKeySecret: 'upload-secret' };
const PART = 100 * 1024;
let oss: OssServer;
let dir: string;
let store: ObjectStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-upload-'));
  oss = await startOssServer({ dataDir: dir, port: 0, credentials: [KEY], buckets: ['ferry'] });
  const config = loadConfig({
    ...ossEnv(oss, KEY),
  });
  store = createObjectStore(storageTarget(config.oss));
});

afterAll(async () => {
  await oss.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * The real store, observed: counts parts and the most uploads in flight at once. With `overlapMs`,
 * a part waits (at most that long) for the next one to start, as on a slow link, so an uploader that
 * overlaps parts is seen doing so however quickly the loopback store answers.
 */
function observed(inner: ObjectStore, overlapMs = 0): ObjectStore & { parts: number[]; maxInFlight: number; puts: number } {
  let inFlight = 0;
  let partStarted: () => void = () => {};
  const wrapper = {
    ...inner,
    parts: [] as number[],
    maxInFlight: 0,
    puts: 0,
    async put(key: string, body: Buffer, headers?: Record<string, string>) {
      wrapper.puts++;
      return inner.put(key, body, headers);
    },
    async uploadPart(key: string, uploadId: string, n: number, body: Buffer) {
      inFlight++;
      wrapper.maxInFlight = Math.max(wrapper.maxInFlight, inFlight);
      wrapper.parts.push(body.length);
      // Wakes the part before this one, then waits for the one after.
      const wakePrevious = partStarted;
      const next = new Promise<void>((resolve) => (partStarted = resolve));
      wakePrevious();
      try {
        if (overlapMs > 0) await Promise.race([next, new Promise((resolve) => setTimeout(resolve, overlapMs))]);
        return await inner.uploadPart(key, uploadId, n, body);
      } finally {
        inFlight--;
      }
    },
  };
  return wrapper;
}

async function* chunks(data: Buffer, size: number, failAt?: number): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) {
    if (failAt !== undefined && offset >= failAt) throw new Error('source broke');
    yield data.subarray(offset, offset + size);
  }
}

async function fetchSigned(key: string): Promise<Buffer> {
  const response = await fetch(await store.signGetUrl(key, 60));
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('uploadStream', () => {
  it('sends a body smaller than one part as a single PUT', async () => {
    const data = randomBytes(PART - 1);
    const spy = observed(store);
    const result = await uploadStream(spy, 'small.bin', chunks(data, 8192), { partSize: PART, partsInFlight: 3 });
    expect(result).toEqual({ size: data.length, multipart: false });
    expect(spy.puts).toBe(1);
    expect(spy.parts).toEqual([]);
    expect((await fetchSigned('small.bin')).equals(data)).toBe(true);
  });

  it('streams a large body in parts of the scheduled sizes with a bounded number in flight', async () => {
    const data = randomBytes(PART * 12 + 777);
    const spy = observed(store, 250);
    const uploaded: number[] = [];
    const result = await uploadStream(spy, 'large.bin', chunks(data, 16 * 1024), {
      partSize: PART,
      partsInFlight: 2,
      onUploaded: (bytes) => uploaded.push(bytes),
    });
    expect(result).toEqual({ size: data.length, multipart: true });
    // PART is OSS's minimum, so the schedule cannot start lower and every part is PART: exactly, so memory
    // is bounded by partSize × (in flight + 1).
    expect(spy.parts.length).toBe(13);
    expect(spy.parts.slice(0, -1).every((size) => size === PART)).toBe(true);
    expect(spy.parts.at(-1)).toBe(777);
    expect(spy.maxInFlight).toBe(2);
    expect(uploaded.at(-1)).toBe(data.length);
    const back = await fetchSigned('large.bin');
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('grows parts from 1 MiB to partSize, eight parts per size, so a job ends on a small last part', async () => {
    const MiB = 1024 * 1024;
    const data = randomBytes(24 * MiB + 12345);
    const spy = observed(store);
    const result = await uploadStream(spy, 'growing.bin', chunks(data, 64 * 1024), { partSize: 8 * MiB, partsInFlight: 3 });
    expect(result).toEqual({ size: data.length, multipart: true });
    expect(spy.parts).toEqual([...Array(8).fill(MiB), ...Array(8).fill(2 * MiB), 12345]);
    expect((await fetchSigned('growing.bin')).equals(data)).toBe(true);
  });

  it('schedules part sizes within OSS limits', () => {
    const MiB = 1024 * 1024;
    expect([1, 8, 9, 16, 17, 25, 33, 1000].map((n) => partSizeFor(n, 8 * MiB) / MiB)).toEqual([1, 1, 2, 2, 4, 8, 8, 8]);
    // A maximum below 1 MiB is used from the first part; never below OSS's 100 KB minimum.
    expect(partSizeFor(1, 200 * 1024)).toBe(200 * 1024);
    expect(partSizeFor(1, 10)).toBe(100 * 1024);
    // 10,000 parts (OSS's limit) at the default maximum hold far more than the 2 GiB archive limit;
    // at the smallest allowed maximum they do not, and the config refuses that pairing up front.
    expect(multipartCapacity(8 * MiB)).toBeGreaterThan(50 * 1024 ** 3);
    expect(multipartCapacity(100 * 1024)).toBeLessThan(2 * 1024 ** 3);
    expect(() => loadConfig({ FERRY_PART_SIZE: String(100 * 1024) })).toThrow(/FERRY_PART_SIZE=102400 fits at most \d+ bytes in OSS's 10000 parts, less than FERRY_MAX_ARCHIVE_BYTES/);
    expect(loadConfig({ FERRY_PART_SIZE: String(100 * 1024), FERRY_MAX_ARCHIVE_BYTES: String(512 * MiB), FERRY_MAX_FILE_BYTES: String(512 * MiB) }).oss.partSize).toBe(100 * 1024);
  });

  it('aborts the multipart upload when the source fails: no object, no parts left', async () => {
    const data = randomBytes(PART * 6);
    await expect(uploadStream(store, 'broken.bin', chunks(data, 32 * 1024, PART * 4), { partSize: PART, partsInFlight: 2 })).rejects.toThrow('source broke');
    expect(await store.getText('broken.bin')).toBeUndefined();
    expect(await readdir(join(dir, '.uploads'))).toEqual([]);
  });

  it('aborts when a part upload fails', async () => {
    const failing: ObjectStore = {
      ...store,
      async uploadPart(key, uploadId, n, body) {
        if (n === 3) throw new Error('part 3 lost');
        return store.uploadPart(key, uploadId, n, body);
      },
    };
    // A fault the real store cannot be made to produce on demand: one part failing mid-upload.
    await expect(uploadStream(failing, 'partfail.bin', chunks(randomBytes(PART * 8), 32 * 1024), { partSize: PART, partsInFlight: 2 })).rejects.toThrow('part 3 lost');
    expect(await store.getText('partfail.bin')).toBeUndefined();
    expect(await readdir(join(dir, '.uploads'))).toEqual([]);
  });
});
