import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedCounters } from '../../../src/worker/quotas/shared-counters.js';
import type { ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { startLeaseBucket, type LeaseBucket } from '../jobs/_lease.js';

// The counters in a real local OSS bucket through the ali-oss SDK; each SharedCounters stands for an instance.
// The clock is injected: how fresh another instance's count is follows the clock, not the wall.

let bucket: LeaseBucket;
let store: ObjectStore;
beforeAll(async () => {
  bucket = await startLeaseBucket();
  store = bucket.instance();
});
afterAll(() => bucket?.close());

const DAY = '2026-12-05';
const MINUTE = 100;

describe('SharedCounters', () => {
  it("sees another instance's count once its sync interval has passed, and its own at once", async () => {
    let now = 0;
    const a = new SharedCounters({ instance: 'a', syncMs: 5000, clock: () => now });
    const b = new SharedCounters({ instance: 'b', syncMs: 5000, clock: () => now });
    expect(await b.read(bucket.instance(), DAY, 'k1', MINUTE)).toEqual({ jobs: 0, bytes: 0 });
    await a.add(store, DAY, 'k1', { jobs: 2, bytes: 10 }, MINUTE);
    expect(await a.read(store, DAY, 'k1', MINUTE)).toEqual({ jobs: 2, bytes: 10 });
    // b listed the counter just now: it trusts that view for 5 s of its clock.
    expect(await b.read(bucket.instance(), DAY, 'k1', MINUTE)).toEqual({ jobs: 0, bytes: 0 });
    now += 5000;
    expect(await b.read(bucket.instance(), DAY, 'k1', MINUTE)).toEqual({ jobs: 2, bytes: 10 });
    // Jobs count in their minute only; bytes for the whole day.
    expect(await b.read(bucket.instance(), DAY, 'k1', MINUTE + 1)).toEqual({ jobs: 0, bytes: 10 });
  });

  it('never lowers its own stored shard after forgetting the counter (more keys than it keeps)', async () => {
    const a = new SharedCounters({ instance: 'forgetful', syncMs: 0, maxEntries: 1 });
    await a.add(store, DAY, 'k2', { jobs: 3, bytes: 7 }, MINUTE);
    await a.add(store, DAY, 'other', { jobs: 1 }, MINUTE); // k2 is forgotten here
    await a.add(store, DAY, 'k2', { jobs: 1, bytes: 1 }, MINUTE);
    const fresh = new SharedCounters({ instance: 'reader', syncMs: 0 });
    expect(await fresh.read(store, DAY, 'k2', MINUTE)).toEqual({ jobs: 4, bytes: 8 });
  });

  it('ignores shards it cannot read as counts', async () => {
    await store.put(`quota/${DAY}/k3/broken.json`, Buffer.from('{"jobs":"many"}'));
    await store.put(`quota/${DAY}/k3/good.json`, Buffer.from(JSON.stringify({ minute: MINUTE, jobs: 1, bytes: 5 })));
    const reader = new SharedCounters({ instance: 'reader', syncMs: 0 });
    expect(await reader.read(store, DAY, 'k3', MINUTE)).toEqual({ jobs: 1, bytes: 5 });
  });
});
