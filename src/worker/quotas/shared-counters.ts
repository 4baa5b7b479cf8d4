import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ObjectStore } from '../storage/oss-store.js';

/*
 * Counters every instance sees, kept in the bucket. Each counter (a client key on a UTC day) is a folder
 * `quota/<day>/<key>/` holding one small object per instance, `<instance>.json`, that only that instance
 * writes: its own jobs in the current minute and bytes of the day. A reader lists the folder and adds the
 * shards up. No two instances ever write the same object, so plain PUTs need no conditional write and
 * nothing is lost to a race; what is approximate is only how fresh the others' shards are (below).
 *
 * Reads are cached: another instance's shards are listed again at most every `syncMs` (a shard unchanged
 * since, by its listed time and size, is not read again), while this instance's own counts are always
 * exact. So a limit may be passed by what the other instances admitted in the last `syncMs` plus the time
 * their writes took: bounded, and documented in docs/security.md. Day folders are removed by the bucket's
 * lifecycle rule for `quota/` (template.yml).
 */

/** What one instance counted under one key on one day. */
export interface Tally {
  /** Minutes since the epoch that `jobs` counts in; jobs of an earlier minute no longer count. */
  minute: number;
  jobs: number;
  bytes: number;
}

export interface Totals {
  /** Jobs in the minute asked about, all instances. */
  jobs: number;
  /** Bytes of the day, all instances. */
  bytes: number;
}

export interface SharedCountersOptions {
  /** How long the other instances' shards are trusted before they are listed again. Default 5 s. */
  syncMs?: number;
  /** This instance's shard name. Default `<hostname>-<pid>-<random>`: a restarted process starts a new one. */
  instance?: string;
  /** Counters kept in memory at most; the oldest beyond it are forgotten (their shards stay in the bucket). */
  maxEntries?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  log?: ((line: string) => void) | undefined;
}

interface Shard {
  lastModified: number;
  size: number;
  tally: Tally;
}

interface Entry {
  prefix: string;
  own: Tally;
  /** Other instances' shards as last listed, by object key. */
  others: Map<string, Shard>;
  /** When `others` was last listed; undefined before the first listing. */
  syncedAt: number | undefined;
  syncing: Promise<void> | undefined;
  writing: Promise<void>;
}

const DEFAULT_SYNC_MS = 5_000;

/** `quota/<day>/<key>/`: one counter's folder of per-instance shards. */
export function counterPrefix(day: string, key: string): string {
  return `quota/${day}/${key}/`;
}
const DEFAULT_MAX_ENTRIES = 10_000;
const SHARD = /^[A-Za-z0-9._-]{1,100}\.json$/;

export class SharedCounters {
  readonly #syncMs: number;
  readonly #instance: string;
  readonly #maxEntries: number;
  readonly #clock: () => number;
  readonly #log: (line: string) => void;
  readonly #entries = new Map<string, Entry>();

  constructor(options: SharedCountersOptions = {}) {
    this.#syncMs = options.syncMs ?? DEFAULT_SYNC_MS;
    this.#instance = options.instance ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 40)}-${process.pid}-${randomBytes(4).toString('hex')}`;
    if (!SHARD.test(`${this.#instance}.json`)) throw new TypeError(`Expected \`instance\` to be 1-95 of A-Z a-z 0-9 . _ -, got ${JSON.stringify(this.#instance)}`);
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#clock = options.clock ?? Date.now;
    this.#log = options.log ?? (() => undefined);
  }

  /** Every instance's jobs in `minute` and bytes of `day` under `key`, the others' as fresh as `syncMs`. */
  async read(store: ObjectStore, day: string, key: string, minute: number): Promise<Totals> {
    await this.sync(store, day, key);
    return this.totals(day, key, minute);
  }

  /** Lists the counter's shards again if `syncMs` has passed since they were. */
  async sync(store: ObjectStore, day: string, key: string): Promise<void> {
    await this.#sync(store, this.#entry(day, key), false);
  }

  /** The totals as last synced, with this instance's own counts exact; no I/O, so a check and an add can follow at once. */
  totals(day: string, key: string, minute: number): Totals {
    const entry = this.#entry(day, key);
    let { jobs, bytes } = current(entry.own, minute);
    for (const shard of entry.others.values()) {
      const counted = current(shard.tally, minute);
      jobs += counted.jobs;
      bytes += counted.bytes;
    }
    return { jobs, bytes };
  }

  /**
   * Adds to this instance's shard and writes it; resolves once it is stored (failures are logged, not thrown).
   * The count changes before this returns when the counter has been synced, so a caller that checked
   * `totals` and adds in the same turn cannot be overtaken by another request on this instance.
   */
  add(store: ObjectStore, day: string, key: string, delta: { jobs?: number; bytes?: number }, minute: number): Promise<void> {
    const entry = this.#entry(day, key);
    // Before the first write, learn what an earlier life of this shard holds, so a write never lowers it.
    if (entry.syncedAt === undefined) return this.#sync(store, entry, true).then(() => this.#bump(store, entry, delta, minute));
    return this.#bump(store, entry, delta, minute);
  }

  #bump(store: ObjectStore, entry: Entry, delta: { jobs?: number; bytes?: number }, minute: number): Promise<void> {
    if (entry.own.minute !== minute) entry.own = { ...entry.own, minute, jobs: 0 };
    entry.own.jobs += delta.jobs ?? 0;
    entry.own.bytes += delta.bytes ?? 0;
    // Writes of one shard go one after another, each with the counts as they are when it starts.
    entry.writing = entry.writing.then(() =>
      store.put(`${entry.prefix}${this.#instance}.json`, Buffer.from(JSON.stringify(entry.own)), { 'content-type': 'application/json' }).catch((error: unknown) => {
        this.#log(`quota: storing ${entry.prefix} failed: ${String(error)}`);
      }),
    );
    return entry.writing;
  }

  #entry(day: string, key: string): Entry {
    const id = `${day}/${key}`;
    let entry = this.#entries.get(id);
    if (entry) {
      // Most recently used last, so the oldest are forgotten first.
      this.#entries.delete(id);
      this.#entries.set(id, entry);
      return entry;
    }
    entry = { prefix: counterPrefix(day, key), own: { minute: 0, jobs: 0, bytes: 0 }, others: new Map(), syncedAt: undefined, syncing: undefined, writing: Promise.resolve() };
    this.#entries.set(id, entry);
    for (const [oldId] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(oldId);
    }
    return entry;
  }

  /** Lists the counter's shards again if `syncMs` has passed; a storage failure keeps the last view (logged). */
  async #sync(store: ObjectStore, entry: Entry, force: boolean): Promise<void> {
    if (!force && entry.syncedAt !== undefined && this.#clock() - entry.syncedAt < this.#syncMs) return;
    entry.syncing ??= this.#list(store, entry)
      .catch((error: unknown) => this.#log(`quota: reading ${entry.prefix} failed: ${String(error)}`))
      .finally(() => {
        entry.syncing = undefined;
        entry.syncedAt = this.#clock();
      });
    await entry.syncing;
  }

  async #list(store: ObjectStore, entry: Entry): Promise<void> {
    const ownKey = `${entry.prefix}${this.#instance}.json`;
    const listed = (await store.list(entry.prefix)).filter((object) => SHARD.test(object.key.slice(entry.prefix.length)));
    const others = new Map<string, Shard>();
    await Promise.all(
      listed.map(async (object) => {
        const known = object.key === ownKey ? undefined : entry.others.get(object.key);
        const unchanged = known && known.lastModified === object.lastModified && known.size === object.size;
        const tally = unchanged ? known.tally : parseTally(await store.getText(object.key));
        if (!tally) return;
        if (object.key !== ownKey) others.set(object.key, { lastModified: object.lastModified, size: object.size, tally });
        else if (entry.syncedAt === undefined) entry.own = merged(entry.own, tally);
      }),
    );
    entry.others = others;
  }
}

function current(tally: Tally, minute: number): Totals {
  return { jobs: tally.minute === minute ? tally.jobs : 0, bytes: tally.bytes };
}

/** The larger of each count: this instance's own shard as stored by an earlier life and as counted now. */
function merged(own: Tally, stored: Tally): Tally {
  if (stored.minute > own.minute) return { minute: stored.minute, jobs: stored.jobs, bytes: Math.max(own.bytes, stored.bytes) };
  const jobs = stored.minute === own.minute ? Math.max(own.jobs, stored.jobs) : own.jobs;
  return { minute: own.minute, jobs, bytes: Math.max(own.bytes, stored.bytes) };
}

function parseTally(text: string | undefined): Tally | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<Tally>;
    const counts = [value.minute, value.jobs, value.bytes];
    return counts.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) ? (value as Tally) : undefined;
  } catch {
    return undefined;
  }
}
