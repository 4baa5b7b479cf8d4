import { describe, expect, it } from 'vitest';
import {
  bundleDigest, bundlePrefix, chainKey, coveredLink, isFresh, needsNewBase, readChain, sameTips, writeChain,
  type BundleChain, type ChainBounds, type ChainLink,
} from '../../../src/worker/artifacts/bundle-chain.js';
import { MemoryStore } from '../fakes.js';

// The chain's rules as plain functions: which link a client's haves cover, and when a new full bundle
// replaces the chain. The job-level behaviour is in test/worker/jobs/bundle-chain-jobs.test.ts.

const DAY = 24 * 3600 * 1000;
const NOW = 100 * DAY;
const BOUNDS: ChainBounds = { maxLinks: 3, maxIncrementalShare: 0.5, maxBaseAgeMs: 20 * DAY };
const oid = (c: string): string => c.repeat(40);

function link(tips: Record<string, string>, size: number, createdAt = NOW - DAY, key = `bundles/x/${Object.values(tips).join('')}.bundle`): ChainLink {
  return { key, filename: 'r.bundle', size, sha256: 'f'.repeat(64), tips, createdAt };
}

const A = { 'refs/heads/main': oid('a'), 'refs/tags/v1': oid('1') };
const B = { 'refs/heads/main': oid('b'), 'refs/tags/v1': oid('1') };
const C = { 'refs/heads/main': oid('c'), 'refs/heads/dev': oid('d'), 'refs/tags/v1': oid('1') };
const chain = (...links: ChainLink[]): BundleChain => ({ v: 1, repo: 'host/o/r', links });

describe('coveredLink', () => {
  const abc = chain(link(A, 1000), link(B, 100), link(C, 100));
  it.each([
    { name: 'no haves', haves: [], expected: -1 },
    { name: 'the first state', haves: [oid('a'), oid('1')], expected: 0 },
    { name: 'the latest state, with extra unknown haves', haves: [oid('c'), oid('d'), oid('1'), oid('e')], expected: 2 },
    { name: 'two states: the later one counts', haves: [oid('a'), oid('b'), oid('1')], expected: 1 },
    { name: 'only some tips of a state', haves: [oid('c'), oid('1')], expected: -1 },
    { name: 'the commit but not the tag object', haves: [oid('b')], expected: -1 },
  ])('$name → $expected', ({ haves, expected }) => {
    expect(coveredLink(abc, new Set(haves))).toBe(expected);
  });
});

describe('needsNewBase', () => {
  it.each([
    { name: 'a lone fresh base', links: [link(A, 1000)], expected: false },
    { name: 'links below maxLinks, small increments', links: [link(A, 1000), link(B, 200)], expected: false },
    { name: 'maxLinks reached', links: [link(A, 1000), link(B, 10), link(C, 10)], expected: true },
    { name: 'increments exactly half the base', links: [link(A, 1000), link(B, 500)], expected: false },
    { name: 'increments above half the base', links: [link(A, 1000), link(B, 501)], expected: true },
    { name: 'a base past maxBaseAgeMs', links: [link(A, 1000, NOW - 21 * DAY)], expected: true },
    { name: 'a base with no bundle', links: [link(A, 0, NOW, '')], expected: true },
  ])('$name → $expected', ({ links, expected }) => {
    expect(needsNewBase(chain(...links), BOUNDS, NOW)).toBe(expected);
  });
});

describe('isFresh', () => {
  it('judges the full bundle’s age, not the latest link’s', () => {
    expect(isFresh(chain(link(A, 1000, NOW - 20 * DAY)), BOUNDS, NOW)).toBe(true);
    expect(isFresh(chain(link(A, 1000, NOW - 20 * DAY - 1), link(B, 10, NOW)), BOUNDS, NOW)).toBe(false);
  });
});

describe('sameTips', () => {
  it('compares names and ids, not order', () => {
    expect(sameTips(A, { 'refs/tags/v1': oid('1'), 'refs/heads/main': oid('a') })).toBe(true);
    expect(sameTips(A, B)).toBe(false);
    expect(sameTips(A, { ...A, 'refs/heads/x': oid('a') })).toBe(false);
    expect(sameTips({ ...A, 'refs/heads/x': oid('a') }, A)).toBe(false);
  });
});

describe('keys and digests', () => {
  it('keep each repository under its own prefix and name content by its inputs', () => {
    expect(bundlePrefix('github.com/o/r')).toMatch(/^bundles\/[0-9a-f]{32}$/);
    expect(bundlePrefix('github.com/o/r')).not.toBe(bundlePrefix('github.com/o/r2'));
    expect(chainKey('bundles/x')).toBe('bundles/x/chain.json');
    expect(bundleDigest({ tips: A })).toBe(bundleDigest({ tips: A }));
    expect(bundleDigest({ tips: A })).not.toBe(bundleDigest({ tips: B }));
  });
});

describe('readChain', () => {
  const prefix = bundlePrefix('host/o/r');
  const stored = async (body: string): Promise<MemoryStore> => {
    const store = new MemoryStore();
    await store.put(chainKey(prefix), Buffer.from(body));
    return store;
  };

  it('reads back what writeChain wrote', async () => {
    const store = new MemoryStore();
    const written = chain(link(A, 1000), link(B, 10));
    await writeChain(store, prefix, written);
    expect(await readChain(store, prefix, 'host/o/r')).toEqual(written);
  });

  it.each([
    { name: 'not JSON', body: '{' },
    { name: 'another repository’s chain (a prefix collision)', body: JSON.stringify({ ...chain(link(A, 1)), repo: 'host/o/other' }) },
    { name: 'no links', body: JSON.stringify(chain()) },
    { name: 'another version', body: JSON.stringify({ ...chain(link(A, 1)), v: 2 }) },
    { name: 'a key outside bundles/', body: JSON.stringify(chain(link(A, 1, NOW, 'jobs/x.json'))) },
    { name: 'a tip that is not an object id', body: JSON.stringify(chain(link({ 'refs/heads/main': 'HEAD' }, 1))) },
    { name: 'a size that is not a number', body: JSON.stringify(chain({ ...link(A, 1), size: '1' as unknown as number })) },
  ])('treats $name as no chain', async ({ body }) => {
    expect(await readChain(await stored(body), prefix, 'host/o/r')).toBeUndefined();
  });

  it('is undefined when there is none', async () => {
    expect(await readChain(new MemoryStore(), prefix, 'host/o/r')).toBeUndefined();
  });
});
