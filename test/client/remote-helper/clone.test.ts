/**
 * `git clone ferry::<url>`, `git fetch`/`git pull` and `git push` end to end: real git runs the built
 * git-remote-ferry, which talks to a running local stack (real gateway, FC emulator running the built
 * worker, OSS store) in front of a real smart-HTTP git server serving copies of the fixture.
 * `npm run build` first: bin/git-remote-ferry.js loads dist/.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../../src/local/stack.js';
import { git, gitEnv } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ROOT } from '../../helpers/worker-process.js';
import { helperBinDir, runGit, startCountingRelay, type CountingRelay } from './_helper-env.js';

const execFileAsync = promisify(execFile);
const IDENTITY = { GIT_AUTHOR_NAME: 'Ferry Test', GIT_AUTHOR_EMAIL: 'test@ferry.test', GIT_COMMITTER_NAME: 'Ferry Test', GIT_COMMITTER_EMAIL: 'test@ferry.test' };

let work: string;
let fixtureDir: string;
let gitServer: GitServer;
let stack: LocalStack;
let relay: CountingRelay;
let bin: string;

/** The environment git hands on to the helper: the stack through the counting relay, signed. */
const helperEnv = (): NodeJS.ProcessEnv => ({ FERRY_GATEWAY: relay.url, FERRY_APP_KEY: stack.appKey, FERRY_APP_SECRET: stack.appSecret, ...IDENTITY });
const ferryGit = (args: string[], cwd?: string): ReturnType<typeof runGit> => runGit(args, { cwd: cwd ?? work, bin, env: helperEnv() });

/** A copy of clone/history.git served as `<server>/up/<name>`, free to change; pushes accepted. */
async function upstream(name: string): Promise<{ dir: string; url: string }> {
  const dir = join(gitServer.root, 'up', `${name}.git`);
  await cp(join(fixtureDir, 'clone', 'history.git'), dir, { recursive: true });
  await git(['--git-dir', dir, 'config', 'http.receivepack', 'true']);
  return { dir, url: `${gitServer.url}/up/${name}` };
}

/** Refs as `<oid> <name>` lines, sorted, from a repository (optionally only under `prefix`). */
async function refsOf(repo: string, ...patterns: string[]): Promise<string> {
  return git(['-C', repo, 'for-each-ref', '--format=%(objectname) %(refname)', ...patterns]);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-remote-helper-'));
  fixtureDir = join(work, 'fixtures');
  await execFileAsync('bash', [join(ROOT, 'test/fixtures/make-clone-repo.sh'), fixtureDir], { env: gitEnv(), timeout: 120_000 });
  gitServer = await startGitServer({ root: join(work, 'served') });
  stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: [gitServer.host], allowHttp: true, requireSignature: true });
  relay = await startCountingRelay(stack.gateway);
  bin = await helperBinDir(work);
});

afterAll(async () => {
  await relay?.close();
  await stack?.close();
  await gitServer?.close();
  await rm(work, { recursive: true, force: true });
});

describe('git clone ferry::', () => {
  it('gives the same refs, HEAD and history as a native clone, and fsck is clean', async () => {
    const { url } = await upstream('clone');
    const through = join(work, 'through-ferry');
    const native = join(work, 'native');
    const before = relay.connections;
    const cloned = await ferryGit(['clone', `ferry::${url}`, through]);
    expect(cloned.stderr).not.toMatch(/fatal|error/i);
    expect(cloned.code).toBe(0);
    expect(relay.connections).toBeGreaterThan(before);
    await git(['clone', '--quiet', url, native]);

    expect(await refsOf(through, 'refs/remotes', 'refs/tags')).toBe(await refsOf(native, 'refs/remotes', 'refs/tags'));
    expect(await refsOf(through, 'refs/tags')).toMatch(/refs\/tags\/on-dev\n/);
    expect(await git(['-C', through, 'symbolic-ref', 'HEAD'])).toBe('refs/heads/main\n');
    expect(await git(['-C', through, 'rev-parse', 'HEAD', 'refs/remotes/origin/HEAD'])).toBe(await git(['-C', native, 'rev-parse', 'HEAD', 'refs/remotes/origin/HEAD']));
    const history = async (repo: string): Promise<string> => git(['-C', repo, 'log', '--all', '--format=%H']);
    expect(await history(through)).toBe(await history(native));
    expect((await history(through)).split('\n').filter(Boolean).length).toBe(11);
    await git(['-C', through, 'fsck', '--strict', '--no-progress']);
    // The checkout matches too, binary and executable files included.
    expect(await git(['-C', through, 'ls-files', '-s'])).toBe(await git(['-C', native, 'ls-files', '-s']));
    expect(await git(['-C', through, 'status', '--porcelain'])).toBe('');
    // No pack is left kept once git is done, and no temporary download is left in the repository.
    expect(await git(['-C', through, 'count-objects', '-v'])).not.toMatch(/garbage: [1-9]/);
    const leftovers = (await execFileAsync('find', [join(through, '.git'), '-name', '*.keep', '-o', '-name', 'ferry-fetch-*'])).stdout;
    expect(leftovers).toBe('');
  });

  it('git fetch and git pull after upstream changes download only the new objects', async () => {
    const up = await upstream('pull');
    const clone = join(work, 'pull-clone');
    expect((await ferryGit(['clone', '--quiet', `ferry::${up.url}`, clone])).code).toBe(0);
    const oldTips = (await git(['--git-dir', up.dir, 'for-each-ref', '--format=%(objectname)^{commit}', 'refs/']))
      .split('\n').filter(Boolean);

    // Upstream moves: new commits on main and on dev (incompressible binaries, so the size is the objects'), a new tag.
    const scratch = join(work, 'pull-scratch');
    await git(['clone', '--quiet', up.url, scratch]);
    const randomFile = async (name: string, bytes: number): Promise<void> => writeFile(join(scratch, name), Buffer.from(Array.from({ length: bytes }, () => Math.floor(Math.random() * 256))));
    await randomFile('new-main.bin', 60_000);
    await git(['-C', scratch, 'add', '-A'], { env: IDENTITY });
    await git(['-C', scratch, 'commit', '--quiet', '-m', 'New on main'], { env: IDENTITY });
    await git(['-C', scratch, 'tag', '-a', 'v3.0', '-m', 'Version 3.0'], { env: IDENTITY });
    await git(['-C', scratch, 'checkout', '--quiet', 'dev']);
    await randomFile('new-dev.bin', 40_000);
    await git(['-C', scratch, 'add', '-A'], { env: IDENTITY });
    await git(['-C', scratch, 'commit', '--quiet', '-m', 'New on dev'], { env: IDENTITY });
    await git(['-C', scratch, 'push', '--quiet', 'origin', 'main', 'dev', 'v3.0']);

    // What native git would send for this update: a thin pack of every new ref minus the clone's
    // tips, exactly what upload-pack builds when a client with those haves fetches (same pack-objects
    // options). Measured on the server so the figure is the transfer, not the thickened local pack.
    const newTips = (await git(['--git-dir', up.dir, 'for-each-ref', '--format=%(objectname)', 'refs/'])).split('\n').filter(Boolean);
    const revs = [...newTips, ...oldTips.map((tip) => `^${tip}`)].join('\n');
    const nativePack = await packSize(up.dir, revs);

    await untilWorkerSees(up.url, 'refs/heads/dev', newTips);

    const fetched = await ferryGit(['-C', clone, 'fetch', '-v'], clone);
    expect(fetched.code, fetched.stderr).toBe(0);
    // At -v the helper reports what it downloaded: "ferry: <n> bundle part(s), <bytes> bytes".
    const reported = /ferry: (\d+) bundle part\(s\), (\d+) bytes/.exec(fetched.stderr);
    expect(reported, fetched.stderr).not.toBeNull();
    const downloaded = Number(reported?.[2]);
    expect(downloaded).toBeGreaterThan(0);
    expect(downloaded).toBeLessThanOrEqual(1.1 * nativePack);

    expect(await refsOf(clone, 'refs/remotes/origin/main', 'refs/remotes/origin/dev', 'refs/tags/v3.0'))
      .toBe(await refsOf(up.dir, 'refs/heads/main', 'refs/heads/dev', 'refs/tags/v3.0').then((out) => out.replace(/refs\/heads\//g, 'refs/remotes/origin/')));
    const pulled = await ferryGit(['-C', clone, 'pull', '--ff-only', '--quiet'], clone);
    expect(pulled.code).toBe(0);
    expect(await git(['-C', clone, 'rev-parse', 'HEAD'])).toBe(await git(['--git-dir', up.dir, 'rev-parse', 'main']));
    await git(['-C', clone, 'fsck', '--strict', '--no-progress']);
  });

  it('a repository on a host the worker does not allow: git fails with ferry\'s message', async () => {
    const target = join(work, 'evil');
    const run = await ferryGit(['clone', 'ferry::https://evil.example/o/r', target]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^fatal: ferry: .*evil\.example/m);
  });

  it('--depth is refused before anything reaches the worker, pointing to ferry get', async () => {
    const { url } = await upstream('shallow');
    const before = relay.connections;
    const run = await ferryGit(['clone', '--depth', '1', `ferry::${url}`, join(work, 'shallow')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("fatal: ferry: shallow clones are not supported through ferry; use 'ferry get <url>' for a snapshot of one commit");
    expect(relay.connections).toBe(before);
  });

  it('git push goes to the real remote, never to the worker', async () => {
    const up = await upstream('push');
    const clone = join(work, 'push-clone');
    expect((await ferryGit(['clone', '--quiet', `ferry::${up.url}`, clone])).code).toBe(0);
    await writeFile(join(clone, 'pushed.txt'), 'pushed through ferry::\n');
    await git(['-C', clone, 'add', 'pushed.txt']);
    await git(['-C', clone, 'commit', '--quiet', '-m', 'Pushed'], { env: IDENTITY });
    const commit = (await git(['-C', clone, 'rev-parse', 'HEAD'])).trim();

    const before = relay.connections;
    const pushed = await ferryGit(['-C', clone, 'push', 'origin', 'main', 'main:refs/heads/new-branch'], clone);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(relay.connections).toBe(before);
    expect(await git(['--git-dir', up.dir, 'rev-parse', 'main', 'new-branch'])).toBe(`${commit}\n${commit}\n`);
    expect(await git(['-C', clone, 'rev-parse', 'refs/remotes/origin/main'])).toBe(`${commit}\n`);

    // A rejected push is reported per ref, with git's usual hint, still without the worker.
    await git(['-C', clone, 'reset', '--quiet', '--hard', 'HEAD~1']);
    await writeFile(join(clone, 'other.txt'), 'diverged\n');
    await git(['-C', clone, 'add', 'other.txt']);
    await git(['-C', clone, 'commit', '--quiet', '-m', 'Diverged'], { env: IDENTITY });
    const rejected = await ferryGit(['-C', clone, 'push', 'origin', 'main'], clone);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toMatch(/\[rejected\].*main -> main/);
    expect(relay.connections).toBe(before);
    expect(await git(['--git-dir', up.dir, 'rev-parse', 'main'])).toBe(`${commit}\n`);
  });
});

/**
 * The worker answers GET /refs from a cache of a few seconds (docs/protocol.md): waits until its listing,
 * read through the helper's `list` (`git ls-remote ferry::<url>`), shows `ref` at one of `tips`.
 */
async function untilWorkerSees(url: string, ref: string, tips: string[]): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    const listed = await ferryGit(['ls-remote', `ferry::${url}`, ref]);
    const oid = listed.stdout.split('\t')[0];
    if (oid !== undefined && tips.includes(oid)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the worker's GET /refs never showed the new ${ref}`);
}

/** Bytes of the thin pack `git pack-objects` builds for `revs` in `gitDir`, as upload-pack would send it. */
async function packSize(gitDir: string, revs: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', ['--git-dir', gitDir, 'pack-objects', '--revs', '--thin', '--stdout', '--delta-base-offset', '--quiet'], { env: gitEnv(), encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (error, stdout) => (error ? reject(error) : resolve(stdout.length)));
    child.stdin?.end(`${revs}\n`);
  });
}
