/**
 * `ferry clone` and `ferry pull` (the built CLI, which runs stock git with the built git-remote-ferry),
 * and every GitHub-style clone going through ferry with the global insteadOf line, submodules included.
 * Real git, a real smart-HTTP server, a running local stack. `npm run build` first.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCredentials } from '../../src/local/credentials.js';
import type { LocalStack } from '../../src/local/stack.js';
import { loadConfig } from '../../src/worker/config.js';
import { createObjectStore } from '../../src/worker/storage/oss-store.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { git, gitEnv } from '../helpers/fixtures.js';
import type { GitServer } from '../helpers/git-server.js';
import { IDENTITY, refsOf, runGit, startHelperWorld, type CountingRelay, type HelperWorld } from './remote-helper/_helper-env.js';

// The remote helper's test world (_helper-env.ts): clone fixture, git server, local stack, counting relay.
let world: HelperWorld;
let work: string;
let gitServer: GitServer;
let stack: LocalStack;
let relay: CountingRelay;
let bin: string;

/** What `ferry` and the git it runs see: the helper on PATH, no user git config, the stack through the relay. */
function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return gitEnv({ ...world.helperEnv(), PATH: `${bin}${delimiter}${process.env.PATH ?? ''}`, ...extra });
}

const upstream = (name: string): Promise<{ dir: string; url: string }> => world.upstream(name);

/** Objects under bundles/ in the stack's bucket whose keys end with `suffix` (one chain.json per repository cloned through ferry). */
async function storedCount(suffix: string): Promise<number> {
  const { accessKey } = await loadOrCreateCredentials(join(work, 'stack'));
  const store = createObjectStore({ ...loadConfig({}).oss, bucket: stack.bucket, endpoint: stack.oss, pathStyle: true, credentials: accessKey });
  return (await store.list('bundles/')).filter((object) => object.key.endsWith(suffix)).length;
}

beforeAll(async () => {
  world = await startHelperWorld('ferry-clone-cli-');
  ({ work, gitServer, stack, relay, bin } = world);
});

afterAll(async () => {
  await world?.close();
});

describe('ferry clone', () => {
  it('is git clone <url>: same refs, HEAD, history and files; origin fetches through ferry and pushes to the real URL', async () => {
    const { url } = await upstream('cli-clone');
    const through = join(work, 'cli-through');
    const native = join(work, 'cli-native');
    const run = await runFerry(['clone', url, through], { env: cliEnv() });
    expect(run.code, run.stderr).toBe(0);
    await git(['clone', '--quiet', url, native]);

    expect(await refsOf(through, 'refs/remotes', 'refs/tags')).toBe(await refsOf(native, 'refs/remotes', 'refs/tags'));
    expect(await git(['-C', through, 'symbolic-ref', 'HEAD'])).toBe(await git(['-C', native, 'symbolic-ref', 'HEAD']));
    expect(await git(['-C', through, 'log', '--all', '--format=%H'])).toBe(await git(['-C', native, 'log', '--all', '--format=%H']));
    expect(await git(['-C', through, 'ls-files', '-s'])).toBe(await git(['-C', native, 'ls-files', '-s']));
    await git(['-C', through, 'fsck', '--strict', '--no-progress']);
    expect(await git(['-C', through, 'remote', 'get-url', 'origin'])).toBe(`ferry::${url}\n`);
    expect(await git(['-C', through, 'remote', 'get-url', '--push', 'origin'])).toBe(`${url}\n`);
    expect(run.stderr).toContain(`pushes to ${url}`);
  });

  it('reports the worker phases and the download as JSON events with --json', async () => {
    const { url } = await upstream('cli-json');
    const run = await runFerry(['clone', '--json', url, join(work, 'cli-json')], { env: cliEnv() });
    expect(run.code, run.stderr).toBe(0);
    const types = new Set(run.events.map((event) => event.type));
    expect(types).toContain('progress');
    expect(types).toContain('done');
    expect(run.events.some((event) => event.type === 'download' && event.bytes === event.total)).toBe(true);
  });

  it('checks out --branch and names the remote with --origin', async () => {
    const { url, dir } = await upstream('cli-branch');
    const target = join(work, 'cli-branch');
    const run = await runFerry(['clone', '-q', '--branch', 'dev', '--origin', 'upstream', url, target], { env: cliEnv() });
    expect(run.code, run.stderr).toBe(0);
    expect(await git(['-C', target, 'rev-parse', 'HEAD'])).toBe(await git(['--git-dir', dir, 'rev-parse', 'dev']));
    expect(await git(['-C', target, 'remote'])).toBe('upstream\n');
  });

  it('refuses what it cannot do, before git runs: --depth, a non-empty directory, a URL that is not one', async () => {
    const { url } = await upstream('cli-refused');
    const before = relay.connections;
    const shallow = await runFerry(['clone', '--depth', '1', url, join(work, 'cli-shallow')], { env: cliEnv() });
    expect(shallow.code).toBe(2);
    expect(shallow.stderr).toContain(`ferry get ${url}`);
    const taken = join(work, 'cli-taken');
    await mkdir(taken);
    await writeFile(join(taken, 'file'), 'x');
    const busy = await runFerry(['clone', url, taken], { env: cliEnv() });
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/already exists and is not an empty directory/);
    const notUrl = await runFerry(['clone', 'owner/repo'], { env: cliEnv() });
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toMatch(/expected a repository URL/);
    const withToken = await runFerry(['clone', url.replace('http://', 'http://user:token@')], { env: cliEnv() });
    expect(withToken.code).toBe(2);
    expect(withToken.stderr).toMatch(/carries credentials/);
    const withQuery = await runFerry(['clone', `${url}?x=1`], { env: cliEnv() });
    expect(withQuery.code).toBe(2);
    expect(withQuery.stderr).toMatch(/no query, fragment/);
    expect(relay.connections).toBe(before);
  });

  it("a host the worker does not allow fails with ferry's message and a non-zero exit", async () => {
    const run = await runFerry(['clone', 'https://evil.example/o/r', join(work, 'cli-evil')], { env: cliEnv() });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ferry: .*evil\.example/);
  });
});

describe('ferry pull', () => {
  it('in a plain clone of the https URL, fetches through ferry for that one command and fast-forwards', async () => {
    const up = await upstream('cli-pull');
    const clone = join(work, 'cli-pull');
    await git(['clone', '--quiet', up.url, clone]);

    await pushUpstreamCommit(up.url, 'cli-pull');
    const tip = await git(['--git-dir', up.dir, 'rev-parse', 'main']);

    const bundles = await storedCount('.bundle');
    const before = relay.connections;
    const pulled = await pullUntil(clone, tip);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await git(['-C', clone, 'rev-parse', 'HEAD'])).toBe(tip);
    expect(relay.connections).toBeGreaterThan(before);
    // A clone that ferry did not make has no chain to match: its update is a bundle of its own.
    expect(await storedCount('.bundle')).toBe(bundles + 1);
    // The clone's own config is untouched: origin is still the plain URL.
    expect(await git(['-C', clone, 'remote', 'get-url', 'origin'])).toBe(`${up.url}\n`);
  });

  it("in a ferry clone, is served from the repository's chain: one incremental bundle, no bundle of its own", async () => {
    const up = await upstream('cli-chain');
    const clone = join(work, 'cli-chain');
    expect((await runFerry(['clone', '-q', up.url, clone], { env: cliEnv() })).code).toBe(0);
    await pushUpstreamCommit(up.url, 'cli-chain', { tag: 'v9.0' });
    const tip = await git(['--git-dir', up.dir, 'rev-parse', 'main']);
    const bundles = await storedCount('.bundle');
    const manifests = await storedCount('.json');

    const pulled = await pullUntil(clone, tip);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await git(['-C', clone, 'rev-parse', 'HEAD', 'refs/tags/v9.0'])).toBe(await git(['--git-dir', up.dir, 'rev-parse', 'main', 'v9.0']));
    // The haves (annotated tags' objects included) name the chain's tips: the link appended for the new
    // state is the only bundle built, and no standalone bundle (with a manifest of its own) was made.
    expect(await storedCount('.bundle')).toBe(bundles + 1);
    expect(await storedCount('.json')).toBe(manifests);
  });

  it('outside a repository, or with a remote that is not https, says what to do', async () => {
    const outside = await runFerry(['pull'], { cwd: work, env: cliEnv() });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(/not inside a git repository/);
    const local = join(work, 'cli-local-remote');
    await git(['clone', '--quiet', (await upstream('cli-local-remote')).dir, local]);
    const run = await runFerry(['pull'], { cwd: local, env: cliEnv() });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ferry fetches https:\/\/ repositories only/);
  });
});

/** A new commit on main upstream (and an annotated tag on it), pushed from a scratch clone. */
async function pushUpstreamCommit(url: string, name: string, options: { tag?: string } = {}): Promise<void> {
  const scratch = join(work, `${name}-scratch`);
  await git(['clone', '--quiet', url, scratch]);
  await writeFile(join(scratch, 'pulled.txt'), `new upstream in ${name}\n`);
  await git(['-C', scratch, 'add', 'pulled.txt']);
  await git(['-C', scratch, 'commit', '--quiet', '-m', 'New upstream'], { env: IDENTITY });
  if (options.tag) await git(['-C', scratch, 'tag', '-a', options.tag, '-m', options.tag], { env: IDENTITY });
  await git(['-C', scratch, 'push', '--quiet', 'origin', 'main', ...(options.tag ? [options.tag] : [])]);
}

/** `ferry pull --ff-only` until HEAD is `tip`: the worker lists refs from a cache of a few seconds. */
async function pullUntil(clone: string, tip: string): Promise<Awaited<ReturnType<typeof runFerry>>> {
  let pulled = await runFerry(['pull', '--ff-only'], { cwd: clone, env: cliEnv() });
  for (let attempt = 0; pulled.code === 0 && (await git(['-C', clone, 'rev-parse', 'HEAD'])) !== tip && attempt < 30; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    pulled = await runFerry(['pull', '--ff-only', '-q'], { cwd: clone, env: cliEnv() });
  }
  return pulled;
}

describe('the global insteadOf line', () => {
  it('sends every clone through ferry, submodules included', async () => {
    // Two libraries, one nested in the other, and a superproject using both, on the git server.
    const lib = await upstream('sub-lib');
    const nested = await upstream('sub-nested');
    const superproject = await upstream('sub-super');
    const seed = async (repo: { dir: string; url: string }, name: string, submodules: { url: string; path: string }[]): Promise<void> => {
      const scratch = join(work, `seed-${name}`);
      await git(['clone', '--quiet', repo.url, scratch]);
      for (const sub of submodules) await git(['-C', scratch, 'submodule', '--quiet', 'add', sub.url, sub.path], { env: IDENTITY });
      await git(['-C', scratch, 'commit', '--quiet', '-m', `Submodules of ${name}`], { env: IDENTITY });
      await git(['-C', scratch, 'push', '--quiet', 'origin', 'HEAD:main']);
    };
    await seed(lib, 'lib', [{ url: nested.url, path: 'vendor/nested' }]);
    await seed(superproject, 'super', [{ url: lib.url, path: 'lib' }]);

    // What a user puts in ~/.gitconfig, for this server instead of https://github.com/. git clones
    // submodules with GIT_PROTOCOL_FROM_USER=0, so the ferry transport must be allowed outright.
    const globalConfig = join(work, 'insteadof.gitconfig');
    await writeFile(globalConfig, `[url "ferry::${gitServer.url}/"]\n\tinsteadOf = ${gitServer.url}/\n[protocol "ferry"]\n\tallow = always\n`);
    const env = cliEnv({ GIT_CONFIG_GLOBAL: globalConfig });
    const chains = await storedCount('chain.json');
    const target = join(work, 'sub-clone');
    const cloned = await runGit(['clone', '--quiet', superproject.url, target], { bin, env });
    expect(cloned.code, cloned.stderr).toBe(0);
    const updated = await runGit(['submodule', '--quiet', 'update', '--init', '--recursive'], { cwd: target, bin, env });
    expect(updated.code, updated.stderr).toBe(0);

    expect(await git(['-C', join(target, 'lib'), 'rev-parse', 'HEAD'])).toBe(await git(['--git-dir', lib.dir, 'rev-parse', 'main']));
    expect(await git(['-C', join(target, 'lib', 'vendor', 'nested'), 'rev-parse', 'HEAD'])).toBe(await git(['--git-dir', nested.dir, 'rev-parse', 'main']));
    // Each of the three repositories was bundled by the worker: each went through ferry.
    expect(await storedCount('chain.json')).toBe(chains + 3);
  });
});
