/**
 * `git clone ferry::<url>`, `git fetch`/`git pull` and `git push` end to end: real git runs the built
 * git-remote-ferry, which talks to a running local stack (real gateway, FC emulator running the built
 * worker, OSS store) in front of a real smart-HTTP git server serving copies of the fixture.
 * `npm run build` first: bin/git-remote-ferry.js loads dist/.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, gitEnv } from '../../helpers/fixtures.js';
import { commitUpstream, IDENTITY, refsOf, startHelperWorld, untilWorkerSees, type HelperWorld } from './_helper-env.js';

const execFileAsync = promisify(execFile);

let world: HelperWorld;

beforeAll(async () => {
  world = await startHelperWorld('ferry-remote-helper-');
});

afterAll(async () => {
  await world?.close();
});

describe('git clone ferry::', () => {
  it('gives the same refs, HEAD and history as a native clone, and fsck is clean', async () => {
    const { url } = await world.upstream('clone');
    const through = join(world.work, 'through-ferry');
    const native = join(world.work, 'native');
    const before = world.relay.connections;
    const cloned = await world.git(['clone', `ferry::${url}`, through]);
    expect(cloned.stderr).not.toMatch(/fatal|error/i);
    expect(cloned.code).toBe(0);
    expect(world.relay.connections).toBeGreaterThan(before);
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
    await expectNoLeftovers(through);
  });

  it('git fetch and git pull after upstream changes download only the new objects', async () => {
    const up = await world.upstream('pull');
    const clone = join(world.work, 'pull-clone');
    expect((await world.git(['clone', '--quiet', `ferry::${up.url}`, clone])).code).toBe(0);
    const oldTips = (await git(['--git-dir', up.dir, 'for-each-ref', '--format=%(objectname)^{commit}', 'refs/'])).split('\n').filter(Boolean);

    // Upstream moves: new commits on main and on dev (incompressible, so sizes are the objects'), a new tag.
    await commitUpstream(world, up.url, 'main', 'new-main.bin', 60_000);
    await commitUpstream(world, up.url, 'dev', 'new-dev.bin', 40_000);
    await git(['--git-dir', up.dir, 'tag', '-a', 'v3.0', '-m', 'Version 3.0', 'main'], { env: IDENTITY });

    // What native git would send for this update: a thin pack of every new ref minus the clone's
    // tips, which is what upload-pack builds for a client with those haves (same pack-objects options).
    // Measured on the server, so the figure is the transfer, not the pack after index-pack thickens it.
    const newTips = (await git(['--git-dir', up.dir, 'for-each-ref', '--format=%(objectname)', 'refs/'])).split('\n').filter(Boolean);
    const nativePack = await packSize(up.dir, [...newTips, ...oldTips.map((tip) => `^${tip}`)].join('\n'));
    await untilWorkerSees(world, up.url, 'refs/tags/v3.0', newTips);

    const fetched = await world.git(['-C', clone, 'fetch', '-v'], clone);
    expect(fetched.code, fetched.stderr).toBe(0);
    // At -v the helper reports what it downloaded: "ferry: <n> bundle part(s), <bytes> bytes".
    const reported = /ferry: (\d+) bundle part\(s\), (\d+) bytes/.exec(fetched.stderr);
    expect(reported, fetched.stderr).not.toBeNull();
    const downloaded = Number(reported?.[2]);
    expect(downloaded).toBeGreaterThan(0);
    expect(downloaded).toBeLessThanOrEqual(1.1 * nativePack);

    const upstreamRefs = await refsOf(up.dir, 'refs/heads/main', 'refs/heads/dev');
    expect(await refsOf(clone, 'refs/remotes/origin/main', 'refs/remotes/origin/dev')).toBe(upstreamRefs.replace(/refs\/heads\//g, 'refs/remotes/origin/'));
    expect(await refsOf(clone, 'refs/tags/v3.0')).toBe(await refsOf(up.dir, 'refs/tags/v3.0'));
    const pulled = await world.git(['-C', clone, 'pull', '--ff-only', '--quiet'], clone);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(await git(['-C', clone, 'rev-parse', 'HEAD'])).toBe(await git(['--git-dir', up.dir, 'rev-parse', 'main']));
    await git(['-C', clone, 'fsck', '--strict', '--no-progress']);
    await expectNoLeftovers(clone);
  });

  it('a repository on a host the worker does not allow: git fails with ferry\'s message', async () => {
    const run = await world.git(['clone', 'ferry::https://evil.example/o/r', join(world.work, 'evil')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/^fatal: ferry: .*evil\.example/m);
  });

  it('--depth is refused before anything reaches the worker, pointing to ferry get', async () => {
    const { url } = await world.upstream('shallow');
    const before = world.relay.connections;
    const run = await world.git(['clone', '--depth', '1', `ferry::${url}`, join(world.work, 'shallow')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("fatal: ferry: shallow clones are not supported through ferry; use 'ferry get <url>' for a snapshot of one commit");
    expect(world.relay.connections).toBe(before);
  });

  it('git push goes to the real remote, never to the worker', async () => {
    const up = await world.upstream('push');
    const clone = join(world.work, 'push-clone');
    expect((await world.git(['clone', '--quiet', `ferry::${up.url}`, clone])).code).toBe(0);
    await writeFile(join(clone, 'pushed.txt'), 'pushed through ferry::\n');
    await git(['-C', clone, 'add', 'pushed.txt']);
    await git(['-C', clone, 'commit', '--quiet', '-m', 'Pushed'], { env: IDENTITY });
    const commit = (await git(['-C', clone, 'rev-parse', 'HEAD'])).trim();

    const before = world.relay.connections;
    const pushed = await world.git(['-C', clone, 'push', 'origin', 'main', 'main:refs/heads/new-branch'], clone);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(world.relay.connections).toBe(before);
    expect(await git(['--git-dir', up.dir, 'rev-parse', 'main', 'new-branch'])).toBe(`${commit}\n${commit}\n`);
    expect(await git(['-C', clone, 'rev-parse', 'refs/remotes/origin/main'])).toBe(`${commit}\n`);

    // A rejected push is reported per ref, with git's usual hint, still without the worker.
    await git(['-C', clone, 'reset', '--quiet', '--hard', 'HEAD~1']);
    await writeFile(join(clone, 'other.txt'), 'diverged\n');
    await git(['-C', clone, 'add', 'other.txt']);
    await git(['-C', clone, 'commit', '--quiet', '-m', 'Diverged'], { env: IDENTITY });
    const rejected = await world.git(['-C', clone, 'push', 'origin', 'main'], clone);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stderr).toMatch(/\[rejected\].*main -> main/);
    expect(world.relay.connections).toBe(before);
    expect(await git(['--git-dir', up.dir, 'rev-parse', 'main'])).toBe(`${commit}\n`);

    // `+` forces that ref (git hands the helper `push +refs/heads/main:refs/heads/main`).
    const diverged = (await git(['-C', clone, 'rev-parse', 'HEAD'])).trim();
    const forced = await world.git(['-C', clone, 'push', 'origin', '+main'], clone);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/\+ \w+\.\.\.\w+ main -> main \(forced update\)/);
    expect(await git(['--git-dir', up.dir, 'rev-parse', 'main'])).toBe(`${diverged}\n`);
    expect(world.relay.connections).toBe(before);
  });
});

/** No pack left kept once git is done, and no temporary download left in the repository. */
async function expectNoLeftovers(repo: string): Promise<void> {
  const found = (await execFileAsync('find', [join(repo, '.git'), '-name', '*.keep', '-o', '-name', 'ferry-fetch-*'])).stdout;
  expect(found).toBe('');
}

/** Bytes of the thin pack `git pack-objects` builds for `revs` in `gitDir`, as upload-pack would send it. */
async function packSize(gitDir: string, revs: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = execFile('git', ['--git-dir', gitDir, 'pack-objects', '--revs', '--thin', '--stdout', '--delta-base-offset', '--quiet'], { env: gitEnv(), encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (error, stdout) => (error ? reject(error) : resolve(stdout.length)));
    child.stdin?.end(`${revs}\n`);
  });
}
