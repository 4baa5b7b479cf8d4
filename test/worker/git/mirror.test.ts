import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { MirrorCache, staleLock } from '../../../src/worker/git/mirror.js';
import { parseRepoUrl, type RepoRef } from '../../../src/worker/git/url.js';
import { fixtureRoot, git, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { testDestinations } from '../../helpers/destinations.js';

let server: GitServer;
let root: string;
let temp: string;

beforeAll(async () => {
  root = await fixtureRoot();
  server = await startGitServer({ root });
  temp = await mkdtemp(join(tmpdir(), 'ferry-mirror-'));
});

afterAll(async () => {
  await server?.close();
  await rm(temp, { recursive: true, force: true });
});

const repo = (name: string): RepoRef => parseRepoUrl(`${server.url}/fixtures/${name}`, { allowedHosts: [server.host], allowHttp: true });
const cache = (workDir: string, maxBytes?: number): MirrorCache => new MirrorCache({ workDir, git: createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: testDestinations }), maxBytes });
const commitOf = (name: string, rev: string): Promise<string> => gitRevParse(join(root, `fixtures/${name}.git`), rev);

async function du(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await du(path) : (await stat(path)).size;
  }
  return total;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

describe('MirrorCache.fetchAll', () => {
  it('holds a full mirror from its fetch to its release: the next fetch of it waits, a new one is fresh', async () => {
    const mirrors = cache(join(temp, 'hold'));
    const first = await mirrors.fetchAll(repo('basic'));
    expect(first.fresh).toBe(true);
    expect(first.refs.get('refs/heads/main')).toBe(await commitOf('basic', 'main'));
    let released = false;
    // Resolves only after the release below: what the first holder reads cannot change under it.
    const second = mirrors.fetchAll(repo('basic')).then((lease) => ({ lease, releasedFirst: released }));
    await new Promise((resolve) => setImmediate(resolve));
    released = true;
    first.release();
    const { lease, releasedFirst } = await second;
    expect(releasedFirst).toBe(true);
    expect(lease.gitDir).toBe(first.gitDir);
    expect(lease.fresh).toBe(false);
    lease.release();
  });

  it("removes half-made mirrors a dead process left (temp clones), never this process's own", async () => {
    const work = join(temp, 'sweep');
    const mirrors = cache(work, 1024 ** 3);
    const root = join(work, 'mirrors');
    const dead = join(root, 'r-0123.full.git.clone-999999999-1');
    const ours = join(root, `r-0123.full.git.clone-${process.pid}-1`);
    await mkdir(dead, { recursive: true });
    await mkdir(ours, { recursive: true });
    const lease = await mirrors.fetchAll(repo('basic'));
    lease.release();
    await mirrors.settled();
    expect(await exists(dead)).toBe(false);
    expect(await exists(ours)).toBe(true);
  });

  it('stops waiting for a held mirror when the job is aborted, and the mirror is free after', async () => {
    const mirrors = cache(join(temp, 'hold-abort'));
    const held = await mirrors.fetchAll(repo('basic'));
    const abort = new AbortController();
    const waiting = mirrors.fetchAll(repo('basic'), { signal: abort.signal });
    abort.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'TIMEOUT' });
    held.release();
    const next = await mirrors.fetchAll(repo('basic'));
    next.release();
  });
});

describe('MirrorCache', () => {
  it('fetches exactly the commit into one bare mirror per repository, shallow, and reuses it', async () => {
    const mirrors = cache(join(temp, 'reuse'));
    const main = await commitOf('basic', 'main');
    const tag = await commitOf('basic', 'v1.0.0^{commit}');
    const first = await mirrors.fetch(repo('basic'), main);
    first.release();
    const second = await mirrors.fetch(repo('basic'), tag);
    second.release();
    expect(second.gitDir).toBe(first.gitDir);
    expect(await readdir(join(temp, 'reuse', 'mirrors'))).toHaveLength(1);
    expect((await git(['cat-file', '-t', main], { cwd: first.gitDir })).trim()).toBe('commit');
    expect((await git(['cat-file', '-t', tag], { cwd: first.gitDir })).trim()).toBe('commit');
    expect((await git(['rev-parse', '--is-bare-repository'], { cwd: first.gitDir })).trim()).toBe('true');
    // Two shallow roots, no history beyond them.
    expect((await git(['rev-list', '--count', '--all'], { cwd: first.gitDir })).trim()).toBe('2');
  });

  it('removes a mirror it created when the commit does not exist, and says so', async () => {
    const mirrors = cache(join(temp, 'missing'));
    const error = await mirrors.fetch(repo('basic'), 'f'.repeat(40)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('REF_NOT_FOUND');
    expect(await readdir(join(temp, 'missing', 'mirrors'))).toEqual([]);
  });

  it('evicts the least recently used mirrors beyond its budget', async () => {
    const workDir = join(temp, 'lru');
    const unbounded = cache(workDir);
    const basic = await unbounded.fetch(repo('basic'), await commitOf('basic', 'main'));
    basic.release();
    const many = await unbounded.fetch(repo('many'), await commitOf('many', 'main'));
    many.release();
    // basic was used an hour ago; many just now.
    const earlier = new Date(Date.now() - 3600_000);
    await utimes(basic.gitDir, earlier, earlier);

    const bounded = cache(workDir, (await du(many.gitDir)) + 1024);
    const again = await bounded.fetch(repo('many'), await commitOf('many', 'main'));
    again.release();
    await bounded.settled();
    expect(await exists(basic.gitDir)).toBe(false);
    expect(await exists(many.gitDir)).toBe(true);
  });

  it('never evicts a mirror while it is leased', async () => {
    const mirrors = cache(join(temp, 'leased'), 0);
    const held = await mirrors.fetch(repo('basic'), await commitOf('basic', 'main'));
    const other = await mirrors.fetch(repo('many'), await commitOf('many', 'main'));
    other.release();
    await mirrors.settled();
    // Over a zero budget: the released mirror goes, the held one stays.
    expect(await exists(other.gitDir)).toBe(false);
    expect(await exists(held.gitDir)).toBe(true);
    held.release();
    held.release(); // releasing twice is harmless
    await mirrors.settled();
    expect(await exists(held.gitDir)).toBe(false);
  });

  it('recovers a mirror whose shallow.lock was left by a killed worker', async () => {
    const mirrors = cache(join(temp, 'stale'));
    const first = await mirrors.fetch(repo('basic'), await commitOf('basic', 'main'));
    first.release();
    // Exactly what a worker killed during the shallow update leaves behind.
    await writeFile(join(first.gitDir, 'shallow.lock'), '');
    const second = await mirrors.fetch(repo('basic'), await commitOf('basic', 'release'));
    second.release();
    expect(await exists(join(first.gitDir, 'shallow.lock'))).toBe(false);
    expect((await git(['cat-file', '-t', await commitOf('basic', 'release')], { cwd: second.gitDir })).trim()).toBe('commit');
  });

  it.each([
    ["fatal: Unable to create '/w/m.git/shallow.lock': File exists.", '/w/m.git', '/w/m.git/shallow.lock'],
    ["fatal: Unable to create '/w/m.git/refs/ferry/x.lock': File exists.", '/w/m.git', '/w/m.git/refs/ferry/x.lock'],
    ["fatal: Unable to create '/etc/passwd.lock': File exists.", '/w/m.git', undefined],
    ["fatal: Unable to create '/w/m.git/../other.lock': File exists.", '/w/m.git', undefined],
    ['fatal: unable to access: Could not resolve host', '/w/m.git', undefined],
  ])('staleLock(%j)', (message, dir, expected) => {
    expect(staleLock(message, dir)).toBe(expected);
  });
});
