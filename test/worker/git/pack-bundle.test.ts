/**
 * singlePackBundle: a freshly cloned mirror's one pack behind a v2 header is a full bundle git accepts;
 * any other object store falls back (undefined) to `git bundle create`.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { singlePackBundle } from '../../../src/worker/git/pack-bundle.js';
import { fixtureRoot, git } from '../../helpers/fixtures.js';

let root: string;
let temp: string;

beforeAll(async () => {
  root = await fixtureRoot();
  temp = await mkdtemp(join(tmpdir(), 'ferry-pack-bundle-'));
});

afterAll(async () => {
  await rm(temp, { recursive: true, force: true });
});

/** A bare mirror made as the worker's fetch makes it: through the pack transport, so one pack. */
async function freshMirror(name: string): Promise<string> {
  const dir = join(temp, `${name}.git`);
  await git(['clone', '--quiet', '--mirror', '--no-local', join(root, 'fixtures', 'basic.git'), dir]);
  return dir;
}

async function tipsOf(gitDir: string): Promise<Record<string, string>> {
  const out = await git(['--git-dir', gitDir, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads', 'refs/tags']);
  return Object.fromEntries(out.split('\n').filter(Boolean).map((line) => line.split(' ') as [string, string]));
}

describe('singlePackBundle', () => {
  it("streams a freshly cloned mirror's pack as a full bundle: verified by git, every ref and object arrives", async () => {
    const mirror = await freshMirror('fresh');
    const tips = await tipsOf(mirror);
    const stream = await singlePackBundle(mirror, tips);
    expect(stream).toBeDefined();
    const file = join(temp, 'fresh.bundle');
    await Promise.all([pipeline(stream!.stdout, createWriteStream(file)), stream!.done]);

    const target = join(temp, 'from-bundle.git');
    await git(['init', '--quiet', '--bare', target]);
    await git(['--git-dir', target, 'bundle', 'verify', '--quiet', file]);
    const heads = (await git(['--git-dir', target, 'bundle', 'list-heads', file])).split('\n').filter(Boolean).sort();
    expect(heads).toEqual(Object.entries(tips).map(([name, oid]) => `${oid} ${name}`).sort());
    await git(['--git-dir', target, 'fetch', '--quiet', file, '+refs/*:refs/*']);
    expect(await tipsOf(target)).toEqual(tips);
    await git(['--git-dir', target, 'fsck', '--strict', '--no-progress']);
  });

  it('falls back when the store is not one complete pack: loose objects, a second pack, no refs', async () => {
    const loose = await freshMirror('loose');
    await writeFile(join(temp, 'blob.txt'), 'a loose object\n');
    await git(['--git-dir', loose, 'hash-object', '-w', join(temp, 'blob.txt')]);
    expect(await singlePackBundle(loose, await tipsOf(loose))).toBeUndefined();

    const twoPacks = await freshMirror('two-packs');
    await git(['--git-dir', twoPacks, 'hash-object', '-w', join(temp, 'blob.txt')]);
    await git(['--git-dir', twoPacks, 'repack', '-q']); // packs the loose object into a second pack
    expect(await singlePackBundle(twoPacks, await tipsOf(twoPacks))).toBeUndefined();

    const fresh = await freshMirror('no-refs');
    expect(await singlePackBundle(fresh, {})).toBeUndefined();
  });
});
