import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ObjectStore } from '../storage/oss-store.js';
import { settleInBackground } from '../storage/transient.js';
import { LEASE_HEADERS, generationKey, generations, leaseBody, leasePrefix, readLease, type LeaseRecord } from './lease-objects.js';

/*
 * One build across instances. Many jobs may ask for the same content-addressed artifact at once, on
 * different FC instances; the first to take the artifact's lease builds it and the others wait for it.
 *
 * A lease is a numbered generation object (lease-objects.ts). To take it, an instance lists the
 * generations and, if the newest is released, missing or stale, creates the next one with
 * putIfAbsent (x-oss-forbid-overwrite): OSS lets exactly one of the racers create it. The holder
 * rewrites its own generation every `renewMs` (renewedAt), and when done marks it released. A waiter
 * polls the artifact and the newest generation; a generation not renewed for `ttlMs` (its holder
 * crashed or was reclaimed) is taken over by creating the next one, again atomically.
 *
 * Why generations rather than one lease object deleted and re-created: OSS has no conditional
 * delete, so "delete the stale lease, then create mine" lets two waiters each delete the other's
 * fresh lease and both build. Creating generation N+1 needs no delete, and a holder that was judged
 * stale learns it at its next renewal (a newer generation exists) and aborts its build. A released
 * lease is marked rather than deleted so that the newest generation stays: numbers never go back,
 * and a late renewal of an old generation can never pass for the current lease. Older generations
 * are removed by whoever takes a newer one; the last one stays (a few hundred bytes per artifact).
 *
 * The lease saves work; correctness never depends on it. An archive is content-addressed (git archive
 * of a commit gives the same bytes) and a bundle is a new object per build; either way what names it (a
 * manifest, a chain) is written last, with its sha256, so two builds of one artifact (say, a holder whose
 * renewal is delayed past the TTL by a stall) leave a reader a whole artifact or none.
 * Staleness compares the holder's clock (renewedAt) with the waiter's: FC instances keep NTP time,
 * far closer than the TTL's slack (ttl − renew interval).
 */

/** A holder renewing every 10 s survives two lost or slow renewals before anyone takes over; a crashed one delays waiters by at most 30 s. */
export const DEFAULT_LEASE_TTL_MS = 30_000;
/** Waiters see the finished artifact within a second; each poll is a few small OSS requests. */
export const DEFAULT_LEASE_POLL_MS = 1_000;

export interface SingleBuildOptions<T> {
  store: ObjectStore;
  /** The artifact's single-flight key (e.g. its object key). */
  key: string;
  /** The finished artifact if it exists (its manifest is written last, so presence means whole). */
  lookup(): Promise<T | undefined>;
  /** Builds it; runs only while this caller holds the lease. `signal` aborts when the lease is lost or `options.signal` aborts. */
  build(signal: AbortSignal): Promise<T>;
  /** Called once per holder this caller waits for: "another instance is building this". */
  onWaiting?(info: { owner: string; since: number }): void;
  signal?: AbortSignal;
  /** A lease not renewed for this long is taken over. Default 30 s. */
  ttlMs?: number;
  /** How often a holder renews. Default a third of `ttlMs`. */
  renewMs?: number;
  /** How often a waiter looks again. Default 1 s. */
  pollMs?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Who is building, as waiters are told. Default `<hostname>:<pid>`. */
  owner?: string;
  /**
   * The job this build is for. A lease held for the same job by another call is an earlier attempt's:
   * FC delivers a job's event again only once the attempt before failed (its worker died or stopped),
   * so that lease is taken over at once instead of after `ttlMs`. Should both attempts be alive after
   * all (a duplicate delivery), the older learns at its next renewal and waits for the newer.
   */
  job?: string;
}

/** The reason a build's signal aborts when another instance took its lease over. */
export class LeaseLostError extends Error {
  constructor(key: string) {
    super(`Another instance took over the build of ${key}: this one's lease was judged stale.`);
    this.name = 'LeaseLostError';
  }
}

type Settings<T> = Required<Omit<SingleBuildOptions<T>, 'onWaiting' | 'signal' | 'job'>> & Pick<SingleBuildOptions<T>, 'onWaiting' | 'signal' | 'job'>;

interface HeldLease {
  objectKey: string;
  generation: number;
  record: LeaseRecord;
}

/** Returns the artifact `key` names, building it here only if no other instance is building it. */
export async function singleBuild<T>(options: SingleBuildOptions<T>): Promise<T> {
  const ttlMs = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const settings: Settings<T> = {
    ...options,
    ttlMs,
    renewMs: options.renewMs ?? Math.floor(ttlMs / 3),
    pollMs: options.pollMs ?? DEFAULT_LEASE_POLL_MS,
    clock: options.clock ?? Date.now,
    owner: options.owner ?? `${hostname()}:${process.pid}`,
  };
  const { renewMs, pollMs } = settings;
  if (!(ttlMs > 0 && renewMs > 0 && renewMs < ttlMs && pollMs > 0)) {
    throw new TypeError(`Expected \`ttlMs\`, \`renewMs\` and \`pollMs\` to be positive and \`renewMs\` below \`ttlMs\`, got ${ttlMs}, ${renewMs} and ${pollMs}.`);
  }
  const prefix = leasePrefix(settings.key);
  const token = randomBytes(12).toString('hex');
  let announced: number | undefined;
  let failingSince: number | undefined;
  for (;;) {
    settings.signal?.throwIfAborted();
    let round: Round<T>;
    try {
      round = await look(settings, prefix);
      failingSince = undefined;
    } catch (error) {
      // A waiter rides out a storage hiccup, as a holder's renewals do; a store failing for a TTL, or
      // before there is anything to wait for, ends the call.
      failingSince ??= settings.clock();
      if (announced === undefined || settings.clock() - failingSince >= settings.ttlMs) throw error;
      await pause(settings.pollMs, settings.signal);
      continue;
    }
    if ('found' in round) return round.found;
    const { newest, current } = round;
    const earlierAttempt = settings.job !== undefined && current?.job === settings.job && current.token !== token;
    if (current && !current.released && !earlierAttempt && settings.clock() - current.renewedAt < settings.ttlMs) {
      if (announced !== newest) settings.onWaiting?.({ owner: current.owner, since: current.takenAt });
      announced = newest;
      await pause(settings.pollMs, settings.signal);
      continue;
    }

    // Free, released or stale: try for the next generation. Losing the race means someone else just
    // took it, and the next round waits for them.
    const now = settings.clock();
    const held: HeldLease = {
      objectKey: generationKey(prefix, newest + 1),
      generation: newest + 1,
      record: { owner: settings.owner, token, key: settings.key, ...(settings.job !== undefined && { job: settings.job }), takenAt: now, renewedAt: now },
    };
    if (!(await settings.store.putIfAbsent(held.objectKey, leaseBody(held.record), LEASE_HEADERS))) continue;
    await removeOlder(settings.store, prefix, held.generation);
    const outcome = await buildHolding(settings, held);
    if (outcome.built) return outcome.value;
    // Lost to a takeover: the next round waits for the new holder.
  }
}

type Round<T> = { found: T } | { newest: number; current: LeaseRecord | undefined };

/** The artifact if it exists, else the newest lease generation (0 when there is none) and its record. */
async function look<T>(settings: Settings<T>, prefix: string): Promise<Round<T>> {
  const found = await settings.lookup();
  if (found !== undefined) return { found };
  const newest = (await generations(settings.store, prefix)).at(-1) ?? 0;
  const current = newest === 0 ? undefined : await readLease(settings.store, generationKey(prefix, newest));
  return { newest, current };
}

type Outcome<T> = { built: true; value: T } | { built: false };

/** Runs the build while renewing the lease; releases it after, unless it was lost. */
async function buildHolding<T>(settings: Settings<T>, held: HeldLease): Promise<Outcome<T>> {
  const abort = new AbortController();
  const forward = (): void => abort.abort(settings.signal?.reason);
  settings.signal?.addEventListener('abort', forward, { once: true });
  let lost = false;
  const renewal = keepRenewing(settings, held, () => {
    lost = true;
    abort.abort(new LeaseLostError(settings.key));
  });
  try {
    settings.signal?.throwIfAborted();
    // The previous holder may have finished between our lookup and our take.
    const value = (await settings.lookup()) ?? (await settings.build(abort.signal));
    return { built: true, value };
  } catch (error) {
    if (lost && !settings.signal?.aborted) return { built: false };
    throw error;
  } finally {
    settings.signal?.removeEventListener('abort', forward);
    // Stopped (and its request finished) before the release, so a late renewal cannot undo it.
    await renewal.stop();
    if (!lost) await release(settings, held);
  }
}

/** Renews every `renewMs` until stopped; calls `onLost` (once, then stops) when a newer generation exists or the lease went stale here. */
function keepRenewing<T>(settings: Settings<T>, held: HeldLease, onLost: () => void): { stop(): Promise<void> } {
  const stopping = new AbortController();
  const running = (async () => {
    let renewedAt = held.record.renewedAt;
    for (;;) {
      try {
        await pause(settings.renewMs, stopping.signal);
      } catch {
        return;
      }
      try {
        if (!(await renew(settings, held))) return onLost();
        renewedAt = held.record.renewedAt;
      } catch {
        // A failed renewal is retried at the next tick, until others may judge the lease stale.
        if (settings.clock() - renewedAt >= settings.ttlMs) return onLost();
      }
    }
  })();
  return {
    async stop() {
      stopping.abort();
      await running;
    },
  };
}

/** Rewrites the holder's generation with a fresh renewedAt; false if it is no longer the holder's. */
async function renew<T>(settings: Settings<T>, held: HeldLease): Promise<boolean> {
  const prefix = leasePrefix(settings.key);
  if ((await generations(settings.store, prefix)).at(-1) !== held.generation) return false;
  const stored = await readLease(settings.store, held.objectKey);
  if (stored?.token !== held.record.token || stored.released) return false;
  const record = { ...held.record, renewedAt: settings.clock() };
  await settings.store.put(held.objectKey, leaseBody(record), LEASE_HEADERS);
  held.record = record;
  return true;
}

/** Marks the lease released (again in the background while storage is unavailable); if that fails, waiters take it over once it is stale. */
async function release<T>(settings: Settings<T>, held: HeldLease): Promise<void> {
  const record: LeaseRecord = { ...held.record, renewedAt: settings.clock(), released: true };
  await settleInBackground(`releasing the build lease of ${settings.key}`, () => settings.store.put(held.objectKey, leaseBody(record), LEASE_HEADERS)).catch(() => undefined);
}

/** Best effort: generations below `generation` are history once it is taken. */
async function removeOlder(store: ObjectStore, prefix: string, generation: number): Promise<void> {
  const older = (await generations(store, prefix).catch(() => [])).filter((g) => g < generation);
  await Promise.all(older.map((g) => store.delete(generationKey(prefix, g)).catch(() => undefined)));
}

/** Waits `ms`, or rejects with the signal's own reason when it aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
