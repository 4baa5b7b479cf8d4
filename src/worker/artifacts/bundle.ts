import { randomBytes } from 'node:crypto';
import { FerryError } from '../../protocol/errors.js';
import type { DoneResult, BundlePart } from '../../protocol/job.js';
import type { RefsAnswer } from '../../protocol/remote-refs.js';
import { bundleStream, EmptyBundleError } from '../git/bundle.js';
import { FetchProgressTracker } from '../git/fetch-progress.js';
import type { FullMirrorLease } from '../git/mirror.js';
import { presentObjects } from '../git/objects.js';
import { singlePackBundle, type PackBundle } from '../git/pack-bundle.js';
import type { RepoRef } from '../git/url.js';
import {
  bundleDigest, bundlePrefix, chainKey, coveredLink, isFresh, needsNewBase, readChain, sameTips, writeChain,
  type BundleChain, type ChainLink, type LinkIndex, type Tips,
} from './bundle-chain.js';
import { seedFromChain } from './bundle-seed.js';
import { signObject, storeStream } from './stored.js';
import type { RepoAccess } from '../git/access.js';
import type { ArtifactKind, ArtifactRequest, BuildContext, LookupContext } from './types.js';

const CONTENT_TYPE = 'application/x-git-bundle';

/**
 * What a standalone bundle (named refs, or haves no chain link covers) keeps beside it, written last: the
 * link it was built as, whose `key` names the bundle object.
 */
type BundleManifest = ChainLink & { v: 1; kind: 'bundle'; repo: string };

// A git bundle of a repository's branches and tags (or of named refs), minus what the client has.
// Full-repository requests go through the repository's chain (bundle-chain.ts); the rest are one bundle each.
export const bundle: ArtifactKind = {
  name: 'bundle',
  phases: ['fetching', 'bundling'],

  async resolve(repo, _spec, ctx) {
    const answer = await ctx.refs.get(repo);
    const head = answer.head ?? answer.refs.find((ref) => ref.name.startsWith('refs/heads/'))?.name ?? answer.refs[0]?.name;
    const target = answer.refs.find((ref) => ref.name === head);
    if (!head || !target) throw new FerryError('REF_NOT_FOUND', `${repo.canonical} has no branches or tags yet: there is nothing to clone.`);
    return { ref: head.replace(/^refs\/(heads|tags)\//, ''), commit: target.peeled ?? target.oid };
  },

  async buildKey(request, ctx) {
    const prefix = bundlePrefix(request.repo.canonical, request.repo.access?.scope);
    if (await servedByChain(request, ctx, prefix)) return chainKey(prefix);
    return standaloneKey(prefix, request, tipsOf(await ctx.refs.get(request.repo), request));
  },

  async lookup(request, ctx) {
    const prefix = bundlePrefix(request.repo.canonical, request.repo.access?.scope);
    const tips = tipsOf(await ctx.refs.get(request.repo), request);
    if (!request.refs) {
      const chain = await readChain(ctx.store, prefix, request.repo.canonical);
      const head = chain?.links.at(-1);
      if (chain && head && sameTips(head.tips, tips) && isFresh(chain, ctx.config.bundleChain, Date.now())) {
        const from = fromLink(chain, request.have);
        if (from !== undefined) return serveChain(chain, from, request, ctx, true);
      }
    }
    const key = standaloneKey(prefix, request, tips);
    const text = await ctx.store.getText(`${key}.json`);
    if (text === undefined) return undefined;
    return serveStandalone(JSON.parse(text) as BundleManifest, request, ctx, true);
  },

  async build(request, ctx) {
    const { repo } = request;
    const prefix = bundlePrefix(repo.canonical, repo.access?.scope);
    const fetching = new FetchProgressTracker((detail) => ctx.progress('fetching', detail));
    fetching.stage('connecting', `contacting ${repo.host}`);
    const mirror = await ctx.mirrors.fetchAll(repo, {
      seed: async (gitDir) => {
        const chain = await readChain(ctx.store, prefix, repo.canonical);
        if (!chain) return false;
        fetching.stage('seeding');
        const bytes = await seedFromChain(gitDir, chain, ctx.store, ctx.git.env, ctx.signal);
        ctx.git.log?.(`mirror of ${repo.canonical} seeded from ${chain.links.length} cached bundle(s), ${bytes} bytes`);
        return bytes > 0;
      },
      onProgress: (line) => fetching.line(line),
      onRetry: (notice) => fetching.retrying(notice),
      signal: ctx.signal,
    });
    try {
      const tips = pickTips(mirror.refs, request);
      if (await servedByChain(request, ctx, prefix)) {
        const chain = await advanceChain(mirror, tips, request, ctx, prefix);
        const from = fromLink(chain, request.have);
        if (from !== undefined) {
          ctx.progress('signing');
          return await serveChain(chain, from, request, ctx, false);
        }
      }
      return await buildStandalone(mirror, tips, request, ctx, prefix);
    } finally {
      mirror.release();
    }
  },
};

/** Every branch and tag, or the named ones; a named ref the repository lacks is the client's mistake. */
function tipsOf(answer: RefsAnswer, request: ArtifactRequest): Tips {
  return pickTips(new Map(answer.refs.map((ref) => [ref.name, ref.oid])), request, answer.repo);
}

function pickTips(refs: ReadonlyMap<string, string>, request: ArtifactRequest, repo = request.repo.canonical): Tips {
  const tips: Tips = {};
  for (const name of request.refs ?? [...refs.keys()].sort()) {
    const oid = refs.get(name);
    if (oid === undefined) throw new FerryError('REF_NOT_FOUND', `No branch or tag named "${name}" in ${repo}.`);
    tips[name] = oid;
  }
  if (Object.keys(tips).length === 0) throw new FerryError('REF_NOT_FOUND', `${repo} has no branches or tags yet: there is nothing to clone.`);
  return tips;
}

/** Whole-repository requests from nothing, or from a state the chain has, are the chain's. */
async function servedByChain(request: ArtifactRequest, ctx: LookupContext, prefix: string): Promise<boolean> {
  if (request.refs) return false;
  if (!request.have?.length) return true;
  const chain = await readChain(ctx.store, prefix, request.repo.canonical);
  return chain !== undefined && coveredLink(chain, new Set(request.have)) >= 0;
}

/** The first link the client needs (links.length: none), or undefined when its haves match no link. */
function fromLink(chain: BundleChain, have: readonly string[] | undefined): number | undefined {
  if (!have?.length) return 0;
  const covered = coveredLink(chain, new Set(have));
  return covered < 0 ? undefined : covered + 1;
}

function standaloneKey(prefix: string, request: ArtifactRequest, tips: Tips): string {
  return `${prefix}/${bundleDigest({ tips, have: [...(request.have ?? [])].sort() })}`;
}

// The chain's tips become `tips`: appended as an incremental link when the chain is within its bounds,
// else replaced by a new full bundle. Another instance may have advanced it meanwhile: read it again here.
async function advanceChain(mirror: FullMirrorLease, tips: Tips, request: ArtifactRequest, ctx: BuildContext, prefix: string): Promise<BundleChain> {
  const repo = request.repo;
  const current = await readChain(ctx.store, prefix, repo.canonical);
  const head = current?.links.at(-1);
  if (current && head && sameTips(head.tips, tips) && isFresh(current, ctx.config.bundleChain, Date.now())) return current;
  const bounds = ctx.config.bundleChain;
  const incremental = current !== undefined && head !== undefined && !needsNewBase(current, bounds, Date.now());
  // A force-pushed upstream may have dropped an old tip: only what the mirror has can be a prerequisite.
  const exclude = incremental ? [...(await presentObjects(mirror.gitDir, [...new Set(Object.values(head.tips))], ctx.git.env))] : [];
  const link = await buildLink(mirror, tips, exclude, repo, ctx, prefix);
  const chain: BundleChain = { v: 1, repo: repo.canonical, links: incremental ? [...current.links, link] : [link] };
  await writeChain(ctx.store, prefix, chain);
  ctx.git.log?.(`bundle chain of ${repo.canonical}: ${incremental ? `link ${chain.links.length - 1} appended` : 'new full bundle'} (${link.size} bytes)`);
  return chain;
}

async function buildLink(mirror: FullMirrorLease, tips: Tips, exclude: string[], repo: RepoRef, ctx: BuildContext, prefix: string): Promise<ChainLink> {
  const digest = bundleDigest({ tips, exclude: [...exclude].sort() });
  const filename = `${repo.name}-${digest.slice(0, 8)}.bundle`;
  // One object per build, never overwritten: two builds of the same inputs (a lease taken over, a
  // standalone bundle equal to a chain link) need not give the same bytes, and the chain or manifest
  // that names an object records its sha256. Readers find bundles through those, never by key.
  const key = `${prefix}/${digest}-${randomBytes(6).toString('hex')}.bundle`;
  // A bundle of everything a mirror just cloned from upstream has is its one pack as it is, with its index
  // (pack-bundle.ts). Not an older mirror: its pack may still hold history upstream has since dropped.
  const whole = mirror.fresh && exclude.length === 0 && Object.keys(tips).length === mirror.refs.size;
  const packBundle = whole ? await singlePackBundle(mirror.gitDir, tips) : undefined;
  const stream = packBundle ?? bundleStream(mirror.gitDir, { refs: Object.keys(tips), exclude }, { env: ctx.git.env });
  const artifact = { bytes: stream.stdout, done: stream.done, kill: () => stream.kill(), close: () => undefined };
  try {
    const stored = await storeStream(artifact, { key, filename, contentType: CONTENT_TYPE, label: 'bundle', streamPhase: 'bundling' }, ctx);
    const index = packBundle ? await storeIndex(packBundle, key.replace(/\.bundle$/, '.idx'), filename, ctx) : undefined;
    return { key, filename, ...stored, ...(index && { index }), tips, createdAt: Date.now() };
  } catch (error) {
    stream.kill();
    // Nothing new to send (refs deleted or moved back): the state still counts, as a link without a bundle.
    if (await stream.done.then(() => false, (e: unknown) => e instanceof EmptyBundleError)) {
      return { key: '', filename: '', size: 0, sha256: '', tips, createdAt: Date.now() };
    }
    throw error;
  }
}

/** Uploads the pack index that comes with a pack-as-is bundle, beside the bundle. */
async function storeIndex(packBundle: PackBundle, key: string, bundleFilename: string, ctx: BuildContext): Promise<LinkIndex> {
  const bytes = packBundle.index();
  const artifact = { bytes, done: Promise.resolve(), kill: () => bytes.destroy(), close: () => undefined };
  // Small next to the pack (about 28 bytes an object): its upload is part of the bundle's, with no phases of its own.
  const quiet = { ...ctx, progress: () => undefined };
  const stored = await storeStream(artifact, { key, filename: bundleFilename.replace(/\.bundle$/, '.idx'), contentType: 'application/octet-stream', label: 'bundle index', streamPhase: 'bundling' }, quiet);
  return { key, ...stored };
}

async function buildStandalone(mirror: FullMirrorLease, tips: Tips, request: ArtifactRequest, ctx: BuildContext, prefix: string): Promise<DoneResult> {
  const exclude = [...(await presentObjects(mirror.gitDir, request.have ?? [], ctx.git.env))];
  const key = standaloneKey(prefix, request, tips);
  const link = await buildLink(mirror, tips, exclude, request.repo, ctx, prefix);
  if (link.key) {
    const manifest: BundleManifest = { v: 1, kind: 'bundle', repo: request.repo.canonical, ...link };
    await ctx.store.put(`${key}.json`, Buffer.from(JSON.stringify(manifest)), { 'Content-Type': 'application/json' });
  }
  ctx.progress('signing');
  return serveStandalone(link, request, ctx, false);
}

async function serveChain(chain: BundleChain, from: number, request: ArtifactRequest, ctx: LookupContext, cached: boolean): Promise<DoneResult> {
  const parts = await Promise.all(chain.links.slice(from).filter((link) => link.key).map((link) => signPart(link, ctx, request.repo.access)));
  return answer(parts, request, cached);
}

async function serveStandalone(link: ChainLink, request: ArtifactRequest, ctx: LookupContext, cached: boolean): Promise<DoneResult> {
  const parts = link.key ? [await signPart(link, ctx, request.repo.access)] : [];
  return answer(parts, request, cached);
}

async function signPart(link: Pick<ChainLink, 'key' | 'filename' | 'size' | 'sha256' | 'index'>, ctx: LookupContext, access?: RepoAccess): Promise<BundlePart & { expiresAt: string }> {
  const { url, expiresAt } = await signObject(ctx.store, link.key, link.filename, ctx.config, access);
  const index = link.index && { url: (await signObject(ctx.store, link.index.key, link.filename.replace(/\.bundle$/, '.idx'), ctx.config, access)).url, size: link.index.size, sha256: link.index.sha256 };
  return { url, expiresAt, filename: link.filename, size: link.size, sha256: link.sha256, ...(index && { index }) };
}

function answer(signed: (BundlePart & { expiresAt: string })[], request: ArtifactRequest, cached: boolean): DoneResult {
  const first = signed[0];
  const expiresAt = signed.map((part) => part.expiresAt).sort()[0] ?? new Date().toISOString();
  const parts = signed.map(({ expiresAt: _expiresAt, ...part }) => part);
  return {
    url: first?.url ?? '',
    expiresAt,
    filename: first?.filename ?? '',
    size: first?.size ?? 0,
    sha256: first?.sha256 ?? '',
    commit: request.commit,
    ref: request.ref,
    format: 'bundle',
    cached,
    parts,
  };
}
