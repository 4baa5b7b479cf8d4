import { randomUUID } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import type { BundlePart, DoneResult, JobSpec } from '../../src/protocol/job.js';
import { bundlePrefix } from '../../src/worker/artifacts/bundle-chain.js';
import { loadConfig, type Config } from '../../src/worker/config.js';
import { createGitContext } from '../../src/worker/git/context.js';
import { MirrorCache } from '../../src/worker/git/mirror.js';
import { RefsCache } from '../../src/worker/git/refs-cache.js';
import { parseRepoUrl } from '../../src/worker/git/url.js';
import { JobRunner, type JobOutcome } from '../../src/worker/jobs/runner.js';
import { JobStateStore } from '../../src/worker/jobs/state-store.js';
import { createObjectStore, storageTarget, type ObjectStore } from '../../src/worker/storage/oss-store.js';
import { fixtureRoot, git, gitRevParse, sha256File } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { ossEnv } from '../helpers/oss-env.js';
import { ServedPacks } from './_served-packs.js';

// Bundle jobs end to end below the API: the real git server over copies of the fixtures, the local OSS
// store through ali-oss, and real runners. Each test copies basic.git under its own name, so chains
// (keyed by repository) and upstream changes never leak between tests.

const KEY = { accessKeyId: 'LTAI-bundle', accessKeySecret: 'bundle-secret' };
export const IDENTITY = { GIT_AUTHOR_NAME: 'Ferry Test', GIT_AUTHOR_EMAIL: 'test@ferry.test', GIT_COMMITTER_NAME: 'Ferry Test', GIT_COMMITTER_EMAIL: 'test@ferry.test' };

export interface BundleStack {
  temp: string;
  server: GitServer;
  packs: ServedPacks;
  oss: OssServer;
  config: Config;
  /** A new ali-oss client on the bucket: one per worker instance. */
  store(): ObjectStore;
  close(): Promise<void>;
}

export async function startBundleStack(env: Record<string, string> = {}): Promise<BundleStack> {
  const temp = await mkdtemp(join(tmpdir(), 'ferry-bundle-'));
  const packs = new ServedPacks();
  const server = await startGitServer({ root: join(temp, 'upstream'), tapResponse: packs.tap });
  const oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  const config = loadConfig({ ...ossEnv(oss, KEY), FERRY_ALLOWED_HOSTS: server.host, FERRY_ALLOW_HTTP: '1', FERRY_CONCURRENCY: '20', ...env });
  return {
    temp,
    server,
    packs,
    oss,
    config,
    store: () => createObjectStore(storageTarget(config.oss)),
    async close() {
      await oss.close();
      await server.close();
      await rm(temp, { recursive: true, force: true });
    },
  };
}

/** A copy of fixtures/basic.git served as `<server>/t/<name>`, free to change. */
export interface Upstream {
  gitDir: string;
  url: string;
  /** The bundle prefix of its chain in the bucket. */
  prefix: string;
  canonical: string;
}

export async function copyUpstream(stack: BundleStack, name: string): Promise<Upstream> {
  const gitDir = join(stack.server.root, 't', `${name}.git`);
  await mkdir(join(stack.server.root, 't'), { recursive: true });
  await cp(join(await fixtureRoot(), 'fixtures', 'basic.git'), gitDir, { recursive: true });
  const url = `${stack.server.url}/t/${name}`;
  const canonical = parseRepoUrl(url, stack.config).canonical;
  return { gitDir, url, prefix: bundlePrefix(canonical), canonical };
}

/**
 * New history upstream: a commit on main, a new branch from it and an annotated tag, each adding
 * `bytes` of incompressible data (so share bounds can be crossed on purpose).
 */
export async function advanceUpstream(upstream: Upstream, label: string, bytes = 64): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'ferry-bundle-work-'));
  try {
    await git(['clone', '--quiet', upstream.gitDir, work]);
    await writeFile(join(work, `${label}.bin`), Buffer.from(Array.from({ length: bytes }, () => Math.floor(Math.random() * 256))));
    await git(['-C', work, 'add', '-A'], { env: IDENTITY });
    await git(['-C', work, 'commit', '--quiet', '-m', `Add ${label}`], { env: IDENTITY });
    await git(['-C', work, 'tag', '-a', `t-${label}`, '-m', `Tag ${label}`], { env: IDENTITY });
    await git(['-C', work, 'push', '--quiet', 'origin', `HEAD:refs/heads/main`, `HEAD:refs/heads/b-${label}`, `refs/tags/t-${label}`]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Branch and tag name → object id, as `for-each-ref` lists them. */
export async function refsOf(gitDir: string): Promise<Record<string, string>> {
  const out = await git(['--git-dir', gitDir, 'for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/tags']);
  return Object.fromEntries(out.split('\n').filter(Boolean).map((line) => line.split(' ').reverse() as [string, string]));
}

/** A runner of one worker instance with its own work dir; its refs are listed anew for every job. */
export function bundleRunner(stack: BundleStack, options: { config?: Config; refsTtlMs?: number } = {}): JobRunner {
  const config = { ...(options.config ?? stack.config), workDir: join(stack.temp, `work-${randomUUID()}`) };
  const context = createGitContext({ allowHttp: true, timeoutMs: 60_000, allowedDestinations: config.allowedHosts });
  return new JobRunner({
    config,
    git: context,
    mirrors: new MirrorCache({ workDir: config.workDir, git: context }),
    // The default few seconds would hide an upstream change made a moment ago.
    refs: new RefsCache({ git: context, ttlMs: options.refsTtlMs ?? 0 }),
    states: new JobStateStore(),
  });
}

export async function bundleSpec(upstream: Upstream, extra: Pick<JobSpec, 'have' | 'refs'> = {}): Promise<JobSpec> {
  const commit = await gitRevParse(upstream.gitDir, 'HEAD');
  return { jobId: `bundle-${randomUUID()}`, kind: 'bundle', repo: upstream.url, ref: 'main', commit, format: 'bundle', createdAt: Date.now(), ...extra };
}

/** Downloads a part through its signed URL, checking its size and sha256; returns the file. */
export async function downloadPart(part: BundlePart, dir: string): Promise<string> {
  const response = await fetch(part.url);
  expect(response.status).toBe(200);
  const file = join(dir, `${randomUUID()}-${part.filename}`);
  await writeFile(file, Buffer.from(await response.arrayBuffer()));
  expect(await sha256File(file)).toBe(part.sha256);
  return file;
}

/** Applies `parts` in order into `gitDir` (a bare repository, made if absent) as a client would. */
export async function applyParts(parts: readonly BundlePart[], gitDir: string): Promise<void> {
  await git(['init', '--quiet', '--bare', gitDir]);
  for (const part of parts) {
    const file = await downloadPart(part, join(gitDir, '..'));
    await git(['--git-dir', gitDir, 'bundle', 'verify', '--quiet', file]);
    await git(['--git-dir', gitDir, 'fetch', '--quiet', '--no-tags', file, '+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*']);
  }
}

/** The object count in a bundle file's pack header (the pack follows the header's blank line). */
export function bundleObjectCount(bundle: Buffer): number {
  const pack = bundle.subarray(bundle.indexOf('\n\n') + 2);
  expect(pack.subarray(0, 4).toString('latin1')).toBe('PACK');
  return pack.readUInt32BE(8);
}

/** How many objects `tips` reach that `not` do not: what a minimal transfer from `not` to `tips` holds. */
export async function newObjectCount(gitDir: string, tips: readonly string[], not: readonly string[]): Promise<number> {
  const out = await git(['--git-dir', gitDir, 'rev-list', '--objects', ...tips, '--not', ...not, '--']);
  return out.split('\n').filter(Boolean).length;
}

/** The done result of a bundle job, which must have ended done with its parts. */
export function bundleDone(outcome: JobOutcome): DoneResult & { parts: BundlePart[] } {
  expect(outcome.state).toMatchObject({ status: 'done', result: { format: 'bundle' } });
  const result = outcome.state.result as DoneResult;
  expect(result.parts).toBeDefined();
  return result as DoneResult & { parts: BundlePart[] };
}

/** Applies `parts` into a new repository under the stack and checks it equals `upstream` exactly, fsck-clean. */
export async function expectCloneOf(stack: BundleStack, upstream: Upstream, parts: readonly BundlePart[], name: string): Promise<string> {
  const clone = join(stack.temp, 'clones', name, 'repo.git');
  await applyParts(parts, clone);
  expect(await refsOf(clone)).toEqual(await refsOf(upstream.gitDir));
  await git(['--git-dir', clone, 'fsck', '--strict', '--no-dangling']);
  return clone;
}
