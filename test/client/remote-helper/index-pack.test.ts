/**
 * indexPack on bytes that are not a whole pack (a download cut short): it fails with git's reason and
 * leaves nothing in the pack directory — no tmp_pack_* file, no .keep.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexPack, parseBundleHeader } from '../../../src/client/remote-helper/bundle-apply.js';
import { fixtureRoot, git } from '../../helpers/fixtures.js';

let temp: string;
const savedGitDir = process.env.GIT_DIR;

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'ferry-index-pack-'));
});

afterAll(async () => {
  if (savedGitDir === undefined) delete process.env.GIT_DIR;
  else process.env.GIT_DIR = savedGitDir;
  await rm(temp, { recursive: true, force: true });
});

describe('indexPack', () => {
  it('fails on a pack cut short and leaves no temporary pack or keep behind', async () => {
    const root = await fixtureRoot();
    const bundle = join(temp, 'basic.bundle');
    await git(['--git-dir', join(root, 'fixtures', 'basic.git'), 'bundle', 'create', '-q', bundle, '--all']);
    const bytes = await readFile(bundle);
    const header = parseBundleHeader(bytes);
    const target = join(temp, 'target.git');
    await git(['init', '--quiet', '--bare', target]);
    // The helper runs in the repository git started it for: GIT_DIR, as git exports it to helpers.
    process.env.GIT_DIR = target;
    const packDir = join(target, 'objects', 'pack');
    const cut = bytes.subarray(header!.length, header!.length + Math.floor((bytes.length - header!.length) / 2));
    async function* source(): AsyncGenerator<Buffer> {
      yield cut;
    }
    await expect(indexPack(header!, source(), packDir, { verbose: false, checkConnected: true })).rejects.toMatchObject({ code: 'GIT_FAILED' });
    expect(await readdir(packDir)).toEqual([]);
  });
});
