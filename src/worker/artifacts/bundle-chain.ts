import { createHash } from 'node:crypto';
import { scopedPrefix } from '../storage/keys.js';
import type { ObjectStore } from '../storage/oss-store.js';

// A repository's bundles form a chain: link 0 is a full bundle of some past state, each later link an
// incremental bundle from the previous link's tips to a newer state (the idea of git's bundle lists with
// creation tokens). A clone downloads every link; a fetch only the links after the state it has; an update
// upstream costs the worker one more incremental bundle, not a new full one.

/** Branch or tag name → the object it points at (a tag object for annotated tags). */
export type Tips = Record<string, string>;

/** The stored `.idx` of a bundle's pack (pack-as-is bundles only: see pack-bundle.ts). */
export interface LinkIndex {
  key: string;
  size: number;
  sha256: string;
}

export interface ChainLink {
  /** The bundle's object key; empty when the state changed without new objects (a ref deleted or moved back). */
  key: string;
  filename: string;
  size: number;
  sha256: string;
  index?: LinkIndex;
  tips: Tips;
  createdAt: number;
}

export interface BundleChain {
  v: 1;
  repo: string;
  links: ChainLink[];
}

/** When a new full bundle replaces the chain (docs/architecture.md, "Bundle chains"). */
export interface ChainBounds {
  /** Links, the full one included. */
  maxLinks: number;
  /** The incremental links together, as a share of the full one's size. */
  maxIncrementalShare: number;
  /** The full bundle's age; the bucket's lifecycle rule for bundles/ must be longer. */
  maxBaseAgeMs: number;
}

/** `bundles/<id>`: every object of one repository's bundles lives under it. */
export function bundlePrefix(canonicalRepo: string, tokenScope?: string): string {
  return `${scopedPrefix('bundles', tokenScope)}/${createHash('sha256').update(canonicalRepo).digest('hex').slice(0, 32)}`;
}

export function chainKey(prefix: string): string {
  return `${prefix}/chain.json`;
}

/** A content-addressed key under `prefix` for a bundle of exactly these inputs. */
export function bundleDigest(identity: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify({ v: 1, ...identity })).digest('hex').slice(0, 40);
}

export async function readChain(store: ObjectStore, prefix: string, repo: string): Promise<BundleChain | undefined> {
  const text = await store.getText(chainKey(prefix));
  if (text === undefined) return undefined;
  let chain: unknown;
  try {
    chain = JSON.parse(text);
  } catch {
    return undefined; // unreadable: rebuilt as if absent
  }
  return isChain(chain) && chain.repo === repo ? chain : undefined;
}

export async function writeChain(store: ObjectStore, prefix: string, chain: BundleChain): Promise<void> {
  await store.put(chainKey(prefix), Buffer.from(JSON.stringify(chain)), { 'Content-Type': 'application/json' });
}

export function sameTips(a: Tips, b: Tips): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => a[name] === b[name]);
}

/**
 * The last link whose every tip the client has (-1: none): it has that state's objects, so it needs
 * only the links after it.
 */
export function coveredLink(chain: BundleChain, haves: ReadonlySet<string>): number {
  for (let i = chain.links.length - 1; i >= 0; i--) {
    if (Object.values(chain.links[i]?.tips ?? {}).every((oid) => haves.has(oid))) return i;
  }
  return -1;
}

export function needsNewBase(chain: BundleChain, bounds: ChainBounds, now: number): boolean {
  const [base, ...incremental] = chain.links;
  if (!base || !base.key) return true;
  const incrementalBytes = incremental.reduce((sum, link) => sum + link.size, 0);
  return chain.links.length >= bounds.maxLinks || incrementalBytes > base.size * bounds.maxIncrementalShare || !isFresh(chain, bounds, now);
}

/** A chain past its base's age is never served: the bucket's lifecycle rule will remove its bundles. */
export function isFresh(chain: BundleChain, bounds: ChainBounds, now: number): boolean {
  const base = chain.links[0];
  return base !== undefined && now - base.createdAt <= bounds.maxBaseAgeMs;
}

function isChain(value: unknown): value is BundleChain {
  const chain = value as BundleChain;
  return (
    typeof chain === 'object' && chain !== null && chain.v === 1 && typeof chain.repo === 'string' && Array.isArray(chain.links) && chain.links.length > 0 &&
    chain.links.every(
      (link) =>
        typeof link === 'object' && link !== null && typeof link.key === 'string' && (link.key === '' || link.key.startsWith('bundles/')) &&
        typeof link.size === 'number' && typeof link.sha256 === 'string' && typeof link.filename === 'string' &&
        (link.index === undefined || (typeof link.index === 'object' && link.index !== null && typeof link.index.key === 'string' && link.index.key.startsWith('bundles/') && typeof link.index.size === 'number' && typeof link.index.sha256 === 'string')) &&
        typeof link.tips === 'object' && link.tips !== null && Object.values(link.tips).every((oid) => typeof oid === 'string' && /^[0-9a-f]{40,64}$/.test(oid)),
    )
  );
}
