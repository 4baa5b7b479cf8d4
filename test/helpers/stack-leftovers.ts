// What a run may leave behind in a local stack's data, read where it lives: unfinished multipart uploads
// in the local OSS store's `.uploads/`, build leases in the bucket whose newest generation is not released,
// and temporary files (the store's `.tmp/`, half-made mirrors, git's tmp_* packs, incoming-* quarantines
// and *.lock files in the worker's mirrors).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generationKey, generations, readLease } from '../../src/worker/jobs/lease-objects.js';
import type { ObjectStore } from '../../src/worker/storage/oss-store.js';
import { waitFor } from './wait.js';

export interface Leftovers {
  /** `key (uploadId)` of each multipart upload neither completed nor aborted. */
  uploads: string[];
  /** `artifact key (owner)` of each lease whose newest generation is held. */
  leases: string[];
  /** Paths, relative to the directory they were found in. */
  tempFiles: string[];
}

export interface LeftoverPlaces {
  /** The local OSS store's data dir (`<stack data>/oss`). */
  ossDataDir: string;
  /** FERRY_WORK_DIR (`<stack data>/work`). */
  workDir?: string;
  /** A client of the bucket, for the leases. */
  store?: ObjectStore;
}

export async function findLeftovers(places: LeftoverPlaces): Promise<Leftovers> {
  const [uploads, leases, ossTemp, workTemp] = await Promise.all([
    unfinishedUploads(places.ossDataDir),
    places.store ? heldLeases(places.store) : Promise.resolve([]),
    entries(join(places.ossDataDir, '.tmp')),
    places.workDir ? mirrorTemp(join(places.workDir, 'mirrors')) : Promise.resolve([]),
  ]);
  return { uploads, leases, tempFiles: [...ossTemp.map((name) => `oss/.tmp/${name}`), ...workTemp] };
}

/**
 * What is left once the stack has settled: a job's end does not wait for every write behind it (the store drops a
 * cut request's body when it sees the reset; a last heartbeat or a background lease release may still be in
 * flight). Waits up to `timeoutMs` for nothing to be left, then returns what is, for the caller to assert on.
 */
export async function settledLeftovers(places: LeftoverPlaces, timeoutMs = 15_000): Promise<Leftovers> {
  const look = (): Promise<Leftovers> => findLeftovers(places);
  const empty = (found: Leftovers): boolean => found.uploads.length === 0 && found.leases.length === 0 && found.tempFiles.length === 0;
  return waitFor(async () => {
    const found = await look();
    return empty(found) && found;
  }, timeoutMs, 'nothing to be left behind').catch(look);
}

export async function unfinishedUploads(ossDataDir: string): Promise<string[]> {
  const found: string[] = [];
  for (const id of await entries(join(ossDataDir, '.uploads'))) {
    const record = await readFile(join(ossDataDir, '.uploads', id, 'upload.json'), 'utf8').catch(() => undefined);
    const key = record === undefined ? '?' : String((JSON.parse(record) as { key?: unknown }).key);
    found.push(`${key} (${id})`);
  }
  return found;
}

export async function heldLeases(store: ObjectStore): Promise<string[]> {
  const prefixes = new Set((await store.list('leases/')).map((object) => object.key.split('/').slice(0, 2).join('/') + '/'));
  const held: string[] = [];
  for (const prefix of prefixes) {
    const newest = (await generations(store, prefix)).at(-1);
    if (newest === undefined) continue;
    const record = await readLease(store, generationKey(prefix, newest));
    if (record && !record.released) held.push(`${record.key} (${record.owner})`);
  }
  return held;
}

const GIT_TEMP = /^(tmp_|incoming-)|\.lock$/;
const MIRROR_TEMP = /\.(tmp|clone)-\d+-\d+$/;

async function mirrorTemp(mirrors: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await entries(mirrors)) {
    if (MIRROR_TEMP.test(name)) found.push(`mirrors/${name}`);
    else for (const path of await walk(join(mirrors, name), `mirrors/${name}`)) found.push(path);
  }
  return found;
}

/** Git's temporary names anywhere under `dir` (mirrors of test fixtures are small). */
async function walk(dir: string, label: string): Promise<string[]> {
  const found: string[] = [];
  const list = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of list) {
    if (GIT_TEMP.test(entry.name)) found.push(`${label}/${entry.name}`);
    else if (entry.isDirectory()) found.push(...(await walk(join(dir, entry.name), `${label}/${entry.name}`)));
  }
  return found;
}

async function entries(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
