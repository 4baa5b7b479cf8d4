/**
 * A clone served as one full bundle with its pack index: the helper installs pack and index as they are
 * (no index-pack) and tells git the pack is connected; the clone is still exactly a native one. Asked to
 * fsck objects, or given an index of another pack, it indexes the pack itself.
 */
import { copyFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBundleHeader } from '../../../src/client/remote-helper/bundle-apply.js';
import { installIndexedPack } from '../../../src/client/remote-helper/pack-install.js';
import { git } from '../../helpers/fixtures.js';
import { refsOf, startHelperWorld, type HelperWorld } from './_helper-env.js';

let world: HelperWorld;

beforeAll(async () => {
  world = await startHelperWorld('ferry-helper-indexed-');
});

afterAll(async () => {
  await world?.close();
});

const INSTALLED = /ferry: 1 pack\(s\) installed with the worker's index, without index-pack/;

describe("a full bundle with the worker's pack index", () => {
  it('is indexed by git by default, while it downloads, and git skips its own connectivity walk', async () => {
    const { url } = await world.upstream('verified');
    const through = join(world.work, 'verified');
    // The helper-protocol debug shows what the helper told git.
    const run = await world.git(['clone', '-v', `ferry::${url}`, through], undefined, { GIT_TRANSPORT_HELPER_DEBUG: '1' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(INSTALLED);
    expect(run.stderr).toMatch(/ferry: 1 of 1 part\(s\) indexed while downloading/);
    expect(run.stderr).toMatch(/Remote helper: -> option check-connectivity true[\s\S]*Remote helper: <- connectivity-ok/);
    await git(['-C', through, 'fsck', '--strict', '--no-progress']);
  });

  it('is installed as it is when the user trusts the worker (ferry.trustIndex), and gives exactly the native clone', async () => {
    const { url } = await world.upstream('indexed');
    const through = join(world.work, 'indexed');
    const run = await world.git(['-c', 'ferry.trustIndex=true', 'clone', '-v', `ferry::${url}`, through], undefined, { GIT_TRACE: '1', GIT_TRANSPORT_HELPER_DEBUG: '1' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(INSTALLED);
    expect(run.stderr).not.toMatch(/built-in: git index-pack/);
    // One full bundle is a connected pack: git feeds its connectivity walk none of its objects.
    expect(run.stderr).toMatch(/Remote helper: <- connectivity-ok/);
    const native = join(world.work, 'indexed-native');
    await git(['clone', '--quiet', url, native]);
    expect(await refsOf(through, 'refs/remotes', 'refs/tags')).toBe(await refsOf(native, 'refs/remotes', 'refs/tags'));
    expect(await git(['-C', through, 'log', '--all', '--format=%H'])).toBe(await git(['-C', native, 'log', '--all', '--format=%H']));
    await git(['-C', through, 'fsck', '--strict', '--no-progress']);
    const packs = await readdir(join(through, '.git', 'objects', 'pack'));
    expect(packs.filter((name) => name.endsWith('.keep'))).toEqual([]);
    expect(packs.filter((name) => name.endsWith('.pack'))).toHaveLength(1);
  });

  it('is checked object by object, trusted or not, when the clone asks git to fsck (transfer.fsckObjects)', async () => {
    // Upstream gets a commit git's fsck refuses (a malformed author date), on a branch of its own.
    const { url, dir } = await world.upstream('fsck');
    const tree = (await git(['--git-dir', dir, 'rev-parse', 'main^{tree}'])).trim();
    const bad = join(world.work, 'bad-commit.txt');
    await writeFile(bad, `tree ${tree}\nauthor Bad <bad@ferry.test> 12x34 +0000\ncommitter Bad <bad@ferry.test> 1234 +0000\n\nmalformed\n`);
    const oid = (await git(['--git-dir', dir, 'hash-object', '-t', 'commit', '--literally', '-w', bad])).trim();
    await git(['--git-dir', dir, 'update-ref', 'refs/heads/malformed', oid]);

    const lax = await world.git(['clone', '-q', `ferry::${url}`, join(world.work, 'fsck-lax')], undefined, { FERRY_TRUST_INDEX: '1' });
    expect(lax.code, lax.stderr).toBe(0);
    const strict = await world.git(['-c', 'transfer.fsckObjects=true', 'clone', '-q', `ferry::${url}`, join(world.work, 'fsck-strict')], undefined, { FERRY_TRUST_INDEX: '1' });
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toMatch(/fatal: ferry: git index-pack could not apply the bundle/);
  });
});

describe('installIndexedPack', () => {
  it('refuses an index of another pack, a thin bundle, and writes nothing', async () => {
    const temp = await mkdtemp(join(tmpdir(), 'ferry-install-'));
    try {
      const { dir } = await world.upstream('install-refused');
      const bundle = join(temp, 'full.bundle');
      await git(['--git-dir', dir, 'bundle', 'create', '-q', bundle, '--all']);
      const header = parseBundleHeader(await import('node:fs/promises').then((fs) => fs.readFile(bundle)));
      expect(header?.prerequisites).toEqual([]);
      // An index of some other pack: one branch's objects only.
      const other = join(temp, 'other');
      await git(['clone', '--quiet', '--bare', '--no-local', '--single-branch', '--branch', 'feature/a', dir, other]);
      const otherIdx = (await readdir(join(other, 'objects', 'pack'))).find((name) => name.endsWith('.idx'));
      await copyFile(join(other, 'objects', 'pack', otherIdx as string), join(temp, 'other.idx'));
      const packDir = join(temp, 'target', 'objects', 'pack');
      await git(['init', '--quiet', '--bare', join(temp, 'target')]);
      expect(await installIndexedPack(bundle, header!, join(temp, 'other.idx'), packDir)).toBeUndefined();
      await writeFile(join(temp, 'garbage.idx'), Buffer.alloc(2048, 7));
      expect(await installIndexedPack(bundle, header!, join(temp, 'garbage.idx'), packDir)).toBeUndefined();
      expect(await installIndexedPack(bundle, { ...header!, prerequisites: ['a'.repeat(40)] }, join(temp, 'other.idx'), packDir)).toBeUndefined();
      expect(await readdir(packDir)).toEqual([]);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  });
});
