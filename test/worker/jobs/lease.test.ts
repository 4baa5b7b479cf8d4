import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LEASE_TTL_MS, LeaseLostError, singleBuild } from '../../../src/worker/jobs/lease.js';
import { leasePrefix } from '../../../src/worker/jobs/lease-objects.js';
import type { ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { waitFor } from '../../helpers/wait.js';
import { TestArtifact, gate, leaseState, plantLease, recordingWrites, startLeaseBucket, type LeaseBucket } from './_lease.js';

// singleBuild against the local OSS store through ali-oss; separate store clients stand for separate
// instances. Polls and renewals are quick here (a few ms); staleness comes from a shifted clock.

let bucket: LeaseBucket;
let first: ObjectStore;
let second: ObjectStore;

beforeAll(async () => {
  bucket = await startLeaseBucket();
  first = bucket.instance();
  second = bucket.instance();
});

afterAll(async () => {
  await bucket?.close();
});

const QUICK = { pollMs: 5, renewMs: 5 };
/** A clock past the TTL of every lease written by the real one. */
const late = (): number => Date.now() + DEFAULT_LEASE_TTL_MS + 1_000;
const newArtifact = (): TestArtifact => new TestArtifact(`artifacts/${randomUUID()}.json`);

describe('singleBuild', () => {
  it('builds once for many concurrent callers on two instances, and every caller gets the artifact', async () => {
    const artifact = newArtifact();
    const callers = 20;
    let waiting = 0;
    const allWaiting = gate();
    const instances = [recordingWrites(first), recordingWrites(second)];
    const results = await Promise.all(
      Array.from({ length: callers }, (_, i) => {
        const store = instances[i % 2]!.store;
        return singleBuild({
          ...QUICK,
          store,
          key: artifact.key,
          owner: `caller ${i}`,
          lookup: artifact.lookup(store),
          // Finishes only once every other caller waits, so none of them can have found the artifact instead.
          build: async () => {
            await allWaiting.promise;
            return artifact.write(store, `caller ${i}`);
          },
          onWaiting: () => {
            waiting += 1;
            if (waiting === callers - 1) allWaiting.open();
          },
        });
      }),
    );
    expect(artifact.builds).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(waiting).toBe(callers - 1);
    expect(instances.flatMap((instance) => instance.writes).filter((key) => key === artifact.key)).toHaveLength(1);
    // The lease is left released, one generation.
    expect(await leaseState(first, artifact.key)).toEqual([{ generation: 1, record: expect.objectContaining({ released: true }) }]);
  });

  it('returns an artifact that already exists without taking a lease', async () => {
    const artifact = newArtifact();
    await artifact.write(first, 'earlier');
    const built = await singleBuild({ ...QUICK, store: first, key: artifact.key, lookup: artifact.lookup(first), build: () => artifact.write(first, 'now') });
    expect(built).toBe('earlier');
    expect(await leaseState(first, artifact.key)).toEqual([]);
  });

  it('takes over the lease of a crashed owner and builds', async () => {
    const artifact = newArtifact();
    const longAgo = Date.now() - 10 * DEFAULT_LEASE_TTL_MS;
    await plantLease(first, artifact.key, { owner: 'crashed', takenAt: longAgo, renewedAt: longAgo });
    let waited = false;
    const built = await singleBuild({
      ...QUICK,
      store: second,
      key: artifact.key,
      lookup: artifact.lookup(second),
      build: () => artifact.write(second, 'successor'),
      onWaiting: () => (waited = true),
    });
    expect(built).toBe('successor');
    expect(waited).toBe(false);
    // The crashed generation is removed; the new one is released.
    expect(await leaseState(first, artifact.key)).toEqual([{ generation: 2, record: expect.objectContaining({ owner: expect.any(String), released: true }) }]);
  });

  it('takes over at once a fresh lease an earlier attempt of the same job holds, and waits for another job\'s', async () => {
    const artifact = newArtifact();
    // Renewed just now by the attempt whose worker died: for another job, a lease to wait for.
    await plantLease(first, artifact.key, { owner: 'dead attempt', job: 'job-retried' });
    let waited = false;
    const built = await singleBuild({
      ...QUICK,
      store: second,
      key: artifact.key,
      job: 'job-retried',
      lookup: artifact.lookup(second),
      build: () => artifact.write(second, 'next attempt'),
      onWaiting: () => (waited = true),
    });
    expect(built).toBe('next attempt');
    expect(waited).toBe(false);
    expect(await leaseState(first, artifact.key)).toEqual([{ generation: 2, record: expect.objectContaining({ job: 'job-retried', released: true }) }]);

    const other = newArtifact();
    await plantLease(first, other.key, { owner: 'alive', job: 'job-a' });
    const stop = new AbortController();
    const waiting = singleBuild({ ...QUICK, store: second, key: other.key, job: 'job-b', lookup: other.lookup(second), build: () => other.write(second, 'b'), onWaiting: () => stop.abort(new Error('waits')), signal: stop.signal });
    await expect(waiting).rejects.toThrow('waits');
  });

  it('takes over a lease that stops being renewed while it waits', async () => {
    const artifact = newArtifact();
    // A holder that took the lease and then went silent (its instance frozen, say).
    await plantLease(first, artifact.key, { owner: 'silent' });
    let shift = 0;
    const waiting = gate<{ owner: string }>();
    const result = singleBuild({
      ...QUICK,
      store: second,
      key: artifact.key,
      clock: () => Date.now() + shift,
      lookup: artifact.lookup(second),
      build: () => artifact.write(second, 'successor'),
      onWaiting: (info) => waiting.open(info),
    });
    expect(await waiting.promise).toMatchObject({ owner: 'silent' });
    shift = DEFAULT_LEASE_TTL_MS;
    expect(await result).toBe('successor');
    expect(artifact.builds).toBe(1);
  });

  it('releases the lease of a failed build, leaving no artifact, and a waiter then builds it', async () => {
    const artifact = newArtifact();
    const failNow = gate();
    const otherWaits = gate();
    const failing = singleBuild({
      ...QUICK,
      store: first,
      key: artifact.key,
      lookup: artifact.lookup(first),
      build: async () => {
        await failNow.promise;
        throw new Error('the build broke');
      },
    });
    await waitFor(async () => (await leaseState(first, artifact.key)).length === 1, 5_000, 'the first build to take the lease', 5);
    const waiter = singleBuild({
      ...QUICK,
      store: second,
      key: artifact.key,
      lookup: artifact.lookup(second),
      build: async () => {
        // Still no artifact when the waiter gets its turn.
        expect(await artifact.lookup(second)()).toBeUndefined();
        return artifact.write(second, 'waiter');
      },
      onWaiting: () => otherWaits.open(),
    });
    await otherWaits.promise;
    failNow.open();
    await expect(failing).rejects.toThrow('the build broke');
    expect(await waiter).toBe('waiter');
    expect(artifact.builds).toBe(1);
    expect(await leaseState(first, artifact.key)).toEqual([{ generation: 2, record: expect.objectContaining({ released: true }) }]);
  });

  it('aborts a build whose lease another instance took over, and that caller then gets the other build', async () => {
    const artifact = newArtifact();
    const firstAborted = gate<unknown>();
    const holder = singleBuild({
      ...QUICK,
      store: first,
      key: artifact.key,
      owner: 'first',
      lookup: artifact.lookup(first),
      build: (signal) =>
        new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => {
            firstAborted.open(signal.reason);
            reject(signal.reason);
          });
        }),
    });
    await waitFor(async () => (await leaseState(first, artifact.key)).length === 1, 5_000, 'the first build to take the lease', 5);
    // The second instance's clock runs past the TTL, so it judges the first's lease stale.
    const successor = singleBuild({
      ...QUICK,
      store: second,
      key: artifact.key,
      owner: 'second',
      clock: late,
      lookup: artifact.lookup(second),
      build: async () => {
        await firstAborted.promise;
        return artifact.write(second, 'second');
      },
    });
    expect(await firstAborted.promise).toBeInstanceOf(LeaseLostError);
    expect(await successor).toBe('second');
    expect(await holder).toBe('second');
    expect(artifact.builds).toBe(1);
  });

  it('stops waiting when its signal aborts, with the signal’s reason', async () => {
    const artifact = newArtifact();
    const release = gate();
    const holder = singleBuild({
      ...QUICK,
      store: first,
      key: artifact.key,
      lookup: artifact.lookup(first),
      build: async () => {
        await release.promise;
        return artifact.write(first, 'holder');
      },
    });
    await waitFor(async () => (await leaseState(first, artifact.key)).length === 1, 5_000, 'the holder to take the lease', 5);
    const stop = new AbortController();
    const waiter = singleBuild({
      ...QUICK,
      store: second,
      key: artifact.key,
      signal: stop.signal,
      lookup: artifact.lookup(second),
      build: () => artifact.write(second, 'waiter'),
      onWaiting: () => stop.abort(new Error('the job was cancelled')),
    });
    await expect(waiter).rejects.toThrow('the job was cancelled');
    release.open();
    expect(await holder).toBe('holder');
  });

  it('aborts its build when its signal aborts, and releases the lease', async () => {
    const artifact = newArtifact();
    const stop = new AbortController();
    const building = gate();
    const result = singleBuild({
      ...QUICK,
      store: first,
      key: artifact.key,
      signal: stop.signal,
      lookup: artifact.lookup(first),
      build: (signal) =>
        new Promise<string>((_, reject) => {
          building.open();
          signal.addEventListener('abort', () => reject(signal.reason));
        }),
    });
    await building.promise;
    stop.abort(new Error('stopping'));
    await expect(result).rejects.toThrow('stopping');
    expect(await leaseState(first, artifact.key)).toEqual([{ generation: 1, record: expect.objectContaining({ released: true }) }]);
  });

  it('gives its lease up when it cannot renew it for a TTL, aborting the build, then builds again', async () => {
    const artifact = newArtifact();
    // A fault the local store cannot be made to produce on demand: writes to the lease failing while
    // everything else works. The holder's clock then moves past the TTL, as time would.
    let failing = true;
    let shift = 0;
    const prefix = leasePrefix(artifact.key);
    const flaky: ObjectStore = {
      ...first,
      put: async (key, body, headers) => {
        if (failing && key.startsWith(prefix)) {
          shift = DEFAULT_LEASE_TTL_MS;
          throw new Error('lease write refused');
        }
        return first.put(key, body, headers);
      },
    };
    const reasons: unknown[] = [];
    const built = await singleBuild({
      ...QUICK,
      store: flaky,
      key: artifact.key,
      clock: () => Date.now() + shift,
      lookup: artifact.lookup(first),
      build: (signal) => {
        if (reasons.length > 0) return artifact.write(first, 'second try');
        return new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => {
            reasons.push(signal.reason);
            failing = false;
            reject(signal.reason);
          });
        });
      },
    });
    expect(reasons).toEqual([expect.any(LeaseLostError)]);
    expect(built).toBe('second try');
    expect(await leaseState(first, artifact.key)).toEqual([{ generation: 2, record: expect.objectContaining({ released: true }) }]);
  });

  it('waits through storage failures, and gives up when they last a TTL', async () => {
    const artifact = newArtifact();
    await plantLease(first, artifact.key, { owner: 'busy' });
    // A fault the local store cannot be made to produce on demand: listings failing for a while.
    let failures = 0;
    let failing = false;
    const flaky: ObjectStore = {
      ...second,
      list: async (prefix) => {
        if (!failing) return second.list(prefix);
        failures += 1;
        throw new Error('listing failed');
      },
    };
    const waiting = gate();
    const waiter = singleBuild({
      ...QUICK,
      store: flaky,
      key: artifact.key,
      lookup: artifact.lookup(second),
      build: () => artifact.write(second, 'waiter'),
      onWaiting: () => waiting.open(),
    });
    await waiting.promise;
    failing = true;
    await waitFor(() => failures >= 3, 5_000, 'a few failed polls', 5);
    failing = false;
    // The holder finishes; the waiter, still polling, gets its artifact.
    await artifact.write(first, 'busy');
    expect(await waiter).toBe('busy');

    const other = newArtifact();
    await plantLease(first, other.key, { owner: 'busy' });
    failures = 0;
    const stuck = singleBuild({
      ...QUICK,
      store: flaky,
      key: other.key,
      // From the second failed poll on, the clock stands a TTL after the first.
      clock: () => Date.now() + (failures >= 2 ? DEFAULT_LEASE_TTL_MS : 0),
      lookup: other.lookup(second),
      build: () => other.write(second, 'never'),
      onWaiting: () => (failing = true),
    });
    await expect(stuck).rejects.toThrow('listing failed');
    expect(other.builds).toBe(0);
  });

  it.each([
    ['a TTL of zero', { ttlMs: 0 }],
    ['renewals as slow as the TTL', { ttlMs: 1_000, renewMs: 1_000 }],
    ['a negative poll', { pollMs: -1 }],
  ])('refuses %s', async (_name, timing) => {
    const artifact = newArtifact();
    const call = singleBuild({ store: first, key: artifact.key, lookup: artifact.lookup(first), build: () => artifact.write(first, 'x'), ...timing });
    await expect(call).rejects.toThrow(/^Expected `ttlMs`, `renewMs` and `pollMs` to be positive/);
    expect(artifact.builds).toBe(0);
  });
});
