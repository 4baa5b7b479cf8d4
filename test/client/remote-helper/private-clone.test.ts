/**
 * `git clone ferry::<url>` of a private repository: the git server answers 401 for owner `up` without basic auth
 * whose password is the token; git-remote-ferry sends FERRY_GIT_TOKEN as x-ferry-git-token on `list` and `fetch`.
 * `npm run build` first: bin/git-remote-ferry.js loads dist/.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../../helpers/fixtures.js';
import { startHelperWorld, type HelperWorld } from './_helper-env.js';

const TOKEN = 'ghp_CloneT0kenForTests0123456789abcdefgh';
let world: HelperWorld;

beforeAll(async () => {
  world = await startHelperWorld('ferry-private-clone-', { gitServerAuth: { owner: 'up', password: TOKEN } });
}, 120_000);

afterAll(async () => {
  await world?.close();
});

describe('git clone ferry:: of a private repository', () => {
  it('without FERRY_GIT_TOKEN fails, saying the repository was not found or is private', async () => {
    const { url } = await world.upstream('private-none');
    const cloned = await world.git(['clone', `ferry::${url}`, join(world.work, 'none')], undefined, { FERRY_GIT_TOKEN: '' });
    expect(cloned.code).not.toBe(0);
    expect(cloned.stderr).toMatch(/REPO_NOT_FOUND|private/);
  }, 120_000);

  it('with FERRY_GIT_TOKEN clones the whole history, and the stack keeps no copy of the token', async () => {
    const { url } = await world.upstream('private');
    const through = join(world.work, 'through-ferry');
    const cloned = await world.git(['clone', `ferry::${url}`, through], undefined, { FERRY_GIT_TOKEN: TOKEN });
    expect(cloned.stderr).not.toMatch(/fatal|error/i);
    expect(cloned.code).toBe(0);
    expect((await git(['-C', through, 'log', '--all', '--format=%H'])).split('\n').filter(Boolean).length).toBe(11);
    await git(['-C', through, 'fsck', '--strict', '--no-progress']);
    // The clone's own config names the ferry:: URL only.
    expect(await readFile(join(through, '.git', 'config'), 'utf8')).not.toContain(TOKEN);
    for (const entry of await readdir(join(world.work, 'stack'), { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      expect((await readFile(path)).includes(TOKEN), path).toBe(false);
    }
  }, 120_000);
});
