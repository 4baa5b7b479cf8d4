import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobMessage } from '../../../src/protocol/job.js';
import { bundlePrefix, chainKey, readChain, writeChain, type ChainBounds } from '../../../src/worker/artifacts/bundle-chain.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import { startGitServer } from '../../helpers/git-server.js';
import { waitFor } from '../../helpers/wait.js';
import type { Config } from '../../../src/worker/config.js';
import { DEFAULT_LEASE_TTL_MS } from '../../../src/worker/jobs/lease.js';
import { git } from '../../helpers/fixtures.js';
import {
  advanceUpstream, applyParts, bundleDone, bundleRunner, bundleSpec, copyUpstream, expectCloneOf, IDENTITY, newObjectCount, refsOf, startBundleStack,
  type BundleStack, type Upstream,
} from '../_bundle-stack.js';
import { leaseState, plantLease, recordingWrites } from './_lease.js';

// The repository's chain of bundles across jobs, instances and upstream changes.

let stack: BundleStack;

beforeAll(async () => {
  stack = await startBundleStack();
});

afterAll(async () => {
  await stack?.close();
});


const withBounds = (bounds: Partial<ChainBounds>): Config => ({ ...stack.config, bundleChain: { ...stack.config.bundleChain, ...bounds } });
const linkCount = async (upstream: Upstream): Promise<number | undefined> => (await readChain(stack.store(), upstream.prefix, upstream.canonical))?.links.length;


describe('the bundle chain', () => {
  it('appends incremental links up to maxLinks, then starts a new full bundle', async () => {
    const upstream = await copyUpstream(stack, 'max-links');
    const runner = bundleRunner(stack, { config: withBounds({ maxLinks: 2 }) });
    bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(await linkCount(upstream)).toBe(1);

    await advanceUpstream(upstream, 'a');
    const second = recordingWrites(stack.store());
    expect(bundleDone(await runner.run(await bundleSpec(upstream), second.store)).parts).toHaveLength(2);
    expect(second.writes.filter((key) => key.endsWith('.bundle'))).toHaveLength(1);
    expect(await linkCount(upstream)).toBe(2);

    await advanceUpstream(upstream, 'b');
    const third = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(third.parts).toHaveLength(1);
    expect(await linkCount(upstream)).toBe(1);
    await expectCloneOf(stack, upstream, third.parts, 'max-links');
  });

  it('starts a new full bundle once the incremental links outweigh half the full one', async () => {
    const upstream = await copyUpstream(stack, 'share');
    const runner = bundleRunner(stack);
    const base = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    // Incompressible data twice the full bundle's size: the link itself is appended (the bound looks at
    // the links already there), and the next change finds the share exceeded.
    await advanceUpstream(upstream, 'big', 2 * base.parts[0]!.size);
    expect(bundleDone(await runner.run(await bundleSpec(upstream), stack.store())).parts).toHaveLength(2);
    await advanceUpstream(upstream, 'small');
    const after = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(after.parts).toHaveLength(1);
    expect(await linkCount(upstream)).toBe(1);
  });

  it('never serves a chain whose full bundle is older than maxBaseAgeMs: it is rebuilt', async () => {
    const upstream = await copyUpstream(stack, 'old-base');
    const runner = bundleRunner(stack);
    const first = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    const chain = await readChain(stack.store(), upstream.prefix, upstream.canonical);
    const [base] = chain!.links;
    // The chain as a month-old instance would have left it.
    await writeChain(stack.store(), upstream.prefix, { ...chain!, links: [{ ...base!, createdAt: Date.now() - stack.config.bundleChain.maxBaseAgeMs - 60_000 }] });

    const again = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(again.cached).toBe(false);
    expect(first.parts).toHaveLength(1);
    expect(again.parts).toHaveLength(1);
    const rebuilt = await readChain(stack.store(), upstream.prefix, upstream.canonical);
    expect(rebuilt?.links).toHaveLength(1);
    expect(rebuilt!.links[0]!.createdAt).toBeGreaterThan(base!.createdAt);
    // A new full bundle of the same state (its bytes may differ: the first was the fresh mirror's pack as it is).
    expect(rebuilt!.links[0]!.tips).toEqual(base!.tips);
    expect(rebuilt!.links[0]!.key).not.toBe(base!.key);
    expect(again.parts[0]!.sha256).toBe(rebuilt!.links[0]!.sha256);
  });
});

describe('history upstream has dropped', () => {
  it("is in no new full bundle: only a mirror just cloned is served as its pack as it is", async () => {
    const upstream = await copyUpstream(stack, 'dropped');
    // A commit only a branch reaches, pushed and then deleted upstream (a leaked secret, say).
    const work = join(stack.temp, 'dropped-work');
    await git(['clone', '--quiet', upstream.gitDir, work]);
    await git(['-C', work, 'commit', '--quiet', '--allow-empty', '-m', 'secret'], { env: IDENTITY });
    const secret = (await git(['-C', work, 'rev-parse', 'HEAD'])).trim();
    await git(['-C', work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/secret']);
    const runner = bundleRunner(stack, { config: withBounds({ maxLinks: 1 }) });
    const first = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    await applyParts(first.parts, join(stack.temp, 'clones', 'dropped-first', 'repo.git'));
    await git(['--git-dir', join(stack.temp, 'clones', 'dropped-first', 'repo.git'), 'cat-file', '-e', secret]);

    await git(['--git-dir', upstream.gitDir, 'update-ref', '-d', 'refs/heads/secret']);
    // maxLinks 1: the change makes a new full bundle, from the instance's existing mirror.
    const again = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(again.parts).toHaveLength(1);
    const clone = join(stack.temp, 'clones', 'dropped-again', 'repo.git');
    await applyParts(again.parts, clone);
    expect(await refsOf(clone)).toEqual(await refsOf(upstream.gitDir));
    await expect(git(['--git-dir', clone, 'cat-file', '-e', secret])).rejects.toThrow();
  });
});

describe('upstream changes without new objects', () => {
  it('a deleted branch and a rewound one become a link without a bundle: clients get no new part, a fresh clone the old one', async () => {
    const upstream = await copyUpstream(stack, 'deleted');
    const runner = bundleRunner(stack);
    const base = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    const oldTips = Object.values(await refsOf(upstream.gitDir));
    await git(['--git-dir', upstream.gitDir, 'branch', '-D', 'feature/x']);
    await git(['--git-dir', upstream.gitDir, 'update-ref', 'refs/heads/release', 'release~1']);

    const update = bundleDone(await runner.run(await bundleSpec(upstream, { have: oldTips }), stack.store()));
    expect(update.parts).toEqual([]);
    const chain = await readChain(stack.store(), upstream.prefix, upstream.canonical);
    expect(chain?.links.map((link) => link.key === '')).toEqual([false, true]);
    expect(chain?.links[1]?.tips).toEqual(await refsOf(upstream.gitDir));

    const fresh = bundleDone(await runner.run(await bundleSpec(upstream), stack.store()));
    expect(fresh).toMatchObject({ cached: true, parts: [expect.objectContaining({ sha256: base.parts[0]!.sha256 })] });
    // The old bundle holds every object the new refs need (and more): what the client's refs are comes from GET /refs.
    const clone = join(stack.temp, 'clones', 'deleted', 'repo.git');
    await applyParts(fresh.parts, clone);
    for (const oid of Object.values(await refsOf(upstream.gitDir))) await git(['--git-dir', clone, 'cat-file', '-e', oid]);
  });
});

describe('a cold instance', () => {
  it('seeds its mirror from the chain and fetches only the new objects from upstream', async () => {
    const upstream = await copyUpstream(stack, 'cold');
    const oldTips = Object.values(await refsOf(upstream.gitDir));
    let packs = stack.packs.objectCounts().length;
    const base = bundleDone(await bundleRunner(stack).run(await bundleSpec(upstream), stack.store()));
    // The first instance had nothing: it was sent the whole repository.
    expect(stack.packs.objectCounts().slice(packs)).toEqual([await newObjectCount(upstream.gitDir, ['--all'], [])]);

    await advanceUpstream(upstream, 'new');
    const newTips = Object.values(await refsOf(upstream.gitDir));
    packs = stack.packs.objectCounts().length;
    const recorded = recordingWrites(stack.store());
    // A new instance: empty work dir, the same bucket.
    const update = bundleDone(await bundleRunner(stack).run(await bundleSpec(upstream), recorded.store));
    // The one pack upstream sent holds exactly what the old tips do not reach: the rest came from the chain.
    expect(stack.packs.objectCounts().slice(packs)).toEqual([await newObjectCount(upstream.gitDir, newTips, oldTips)]);
    expect(update.parts.map((part) => part.sha256)).toEqual([base.parts[0]!.sha256, expect.any(String)]);
    expect(recorded.writes.filter((key) => key.endsWith('.bundle'))).toHaveLength(1);
    await expectCloneOf(stack, upstream, update.parts, 'cold');
  });
});

describe('one cold bundle asked for by many', () => {
  it('20 concurrent jobs on two instances: one upstream fetch, one bundle built, 20 done with the same parts', async () => {
    const upstream = await copyUpstream(stack, 'crowd');
    const instances = [0, 1].map(() => ({ runner: bundleRunner(stack, { refsTtlMs: 5_000 }), ...recordingWrites(stack.store()) }));
    const packs = stack.packs.objectCounts().length;
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const instance = instances[i % 2]!;
        return instance.runner.run(await bundleSpec(upstream), instance.store);
      }),
    );
    const results = outcomes.map(bundleDone);
    expect(results.filter((result) => !result.cached)).toHaveLength(1);
    expect(new Set(results.map((result) => JSON.stringify(result.parts.map((part) => part.sha256))))).toEqual(new Set([JSON.stringify([results[0]!.parts[0]!.sha256])]));
    expect(stack.packs.objectCounts().slice(packs)).toHaveLength(1);
    const writes = instances.flatMap((instance) => instance.writes);
    expect(writes.filter((key) => key.endsWith('.bundle'))).toHaveLength(1);
    expect(writes.filter((key) => key === chainKey(upstream.prefix))).toHaveLength(1);
    expect(await leaseState(stack.store(), chainKey(upstream.prefix))).toEqual([{ generation: 1, record: expect.objectContaining({ released: true }) }]);
  });

  it('takes over the chain lease of a crashed instance and builds', async () => {
    const upstream = await copyUpstream(stack, 'stale-lease');
    const longAgo = Date.now() - 10 * DEFAULT_LEASE_TTL_MS;
    await plantLease(stack.store(), chainKey(upstream.prefix), { owner: 'crashed', takenAt: longAgo, renewedAt: longAgo });
    const result = bundleDone(await bundleRunner(stack).run(await bundleSpec(upstream), stack.store()));
    expect(result.cached).toBe(false);
    expect(await linkCount(upstream)).toBe(1);
    expect((await leaseState(stack.store(), chainKey(upstream.prefix))).at(-1)).toMatchObject({ generation: 2, record: { released: true } });
  });

  it('a failed build leaves no chain and no manifest, releases the lease, and the next job builds', async () => {
    const upstream = await copyUpstream(stack, 'failed');
    // Too large is a failure the real pipeline makes mid-upload; the fixture's bundle is several KB.
    const small = bundleRunner(stack, { config: { ...stack.config, maxArchiveBytes: 1000 } });
    for (const extra of [{}, { refs: ['refs/heads/main'] }]) {
      const failed = await small.run(await bundleSpec(upstream, extra), stack.store());
      expect(failed.state).toMatchObject({ status: 'error', error: { code: 'TOO_LARGE' } });
    }
    const left = (await stack.store().list(`${upstream.prefix}/`)).map((object) => object.key);
    expect(left.filter((key) => key.endsWith('.json'))).toEqual([]);
    expect((await leaseState(stack.store(), chainKey(upstream.prefix))).at(-1)?.record).toMatchObject({ released: true });

    const result = bundleDone(await bundleRunner(stack).run(await bundleSpec(upstream), stack.store()));
    await expectCloneOf(stack, upstream, result.parts, 'failed');
  });

  it('a job stopped while it fetches (the instance shutting down) leaves no chain and releases its lease', async () => {
    const upstream = await copyUpstream(stack, 'stopped');
    // The same repository through a slow server, so the job is still fetching when it is stopped.
    const slow = await startGitServer({ root: stack.server.root, delayMs: 300 });
    try {
      const config = { ...stack.config, allowedHosts: [slow.host] };
      const url = `${slow.url}/t/stopped`;
      const prefix = bundlePrefix(parseRepoUrl(url, config).canonical);
      const runner = bundleRunner(stack, { config });
      const seen: JobMessage[] = [];
      const running = runner.run({ ...(await bundleSpec(upstream)), repo: url }, stack.store(), [(message) => void seen.push(message)]);
      await waitFor(() => seen.some((m) => m.type === 'progress' && m.phase === 'fetching'), 20_000, 'the job to fetch');
      await runner.abort();
      expect((await running).state).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING' } });
      expect((await stack.store().list(`${prefix}/`)).map((object) => object.key)).toEqual([]);
      expect((await leaseState(stack.store(), chainKey(prefix))).at(-1)?.record).toMatchObject({ released: true });
    } finally {
      await slow.close();
    }
  });
});
