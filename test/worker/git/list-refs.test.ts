import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RefsAnswer } from '../../../src/protocol/remote-refs.js';
import type { RemoteRef } from '../../../src/protocol/refs.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { listRemoteRefs, toAnswer } from '../../../src/worker/git/list-refs.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { parseRepoUrl, type RepoRef } from '../../../src/worker/git/url.js';
import { fixtureRoot, git, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { testDestinations } from '../../helpers/destinations.js';

// GET /refs's listing: HEAD's target, branches and tags with peeled commits, from a real git server.

const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: testDestinations });
const policy = { allowedHosts: ['127.0.0.1', 'host.test'], allowHttp: true };
let temp: string;
let server: GitServer;
let uploadPacks = 0;

beforeAll(async () => {
  const root = await fixtureRoot();
  temp = await mkdtemp(join(tmpdir(), 'ferry-list-refs-'));
  // basic.git plus a tag of a tag, a pull-request ref and a note: only heads and tags are listed.
  const custom = join(temp, 'o', 'custom.git');
  await git(['clone', '--quiet', '--bare', join(root, 'fixtures', 'basic.git'), custom]);
  await git(['-C', custom, 'tag', '-a', 'outer', '-m', 'a tag of a tag', 'v1.0.0'], { env: { GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@ferry.test' } });
  await git(['-C', custom, 'update-ref', 'refs/pull/1/head', 'release']);
  await git(['-C', custom, 'update-ref', 'refs/notes/commits', 'main']);
  server = await startGitServer({
    root: temp,
    onRequest: (req) => {
      if (req.method === 'POST' && req.url?.endsWith('/git-upload-pack')) uploadPacks++;
    },
  });
});

afterAll(async () => {
  await server?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('listRemoteRefs', () => {
  it('lists HEAD’s target and every branch and tag, peeling annotated tags (a tag of a tag to its commit)', async () => {
    const dir = join(temp, 'o', 'custom.git');
    const answer = await listRemoteRefs(parseRepoUrl(`${server.url}/o/custom`, { ...policy, allowedHosts: [server.host] }), context);
    const at = (rev: string): Promise<string> => gitRevParse(dir, rev);
    expect(answer.head).toBe('refs/heads/main');
    expect(answer.refs).toEqual([
      { name: 'refs/heads/feature/x', oid: await at('feature/x') },
      { name: 'refs/heads/main', oid: await at('main') },
      { name: 'refs/heads/release', oid: await at('release') },
      { name: 'refs/tags/outer', oid: await at('outer'), peeled: await at('outer^{commit}') },
      { name: 'refs/tags/v0.1', oid: await at('v0.1') },
      { name: 'refs/tags/v1.0.0', oid: await at('v1.0.0'), peeled: await at('v1.0.0^{commit}') },
    ]);
  });
});

describe('toAnswer', () => {
  const repo: RepoRef = parseRepoUrl('https://host.test/o/r', policy);
  const c = (x: string): string => x.repeat(40);
  it.each<{ name: string; remote: RemoteRef[]; expected: Omit<RefsAnswer, 'repo'> }>([
    { name: 'an empty repository', remote: [], expected: { refs: [] } },
    {
      name: 'a detached HEAD',
      remote: [{ name: 'HEAD', oid: c('a') }, { name: 'refs/heads/main', oid: c('a') }],
      expected: { refs: [{ name: 'refs/heads/main', oid: c('a') }] },
    },
    {
      name: 'HEAD on a branch the listing lacks',
      remote: [{ name: 'HEAD', symref: 'refs/heads/gone' }, { name: 'refs/heads/main', oid: c('a') }],
      expected: { refs: [{ name: 'refs/heads/main', oid: c('a') }] },
    },
    {
      name: 'refs outside heads and tags, and sorting by name',
      remote: [
        { name: 'HEAD', symref: 'refs/heads/main' },
        { name: 'refs/tags/b', oid: c('b') },
        { name: 'refs/pull/1/head', oid: c('p') },
        { name: 'refs/heads/main', oid: c('a') },
        { name: 'refs/remotes/origin/x', oid: c('r') },
      ],
      expected: { head: 'refs/heads/main', refs: [{ name: 'refs/heads/main', oid: c('a') }, { name: 'refs/tags/b', oid: c('b') }] },
    },
    {
      name: 'a peeled line equal to its tag (no annotated tag) adds nothing',
      remote: [{ name: 'refs/tags/t', oid: c('a') }, { name: 'refs/tags/t^{}', oid: c('a') }],
      expected: { refs: [{ name: 'refs/tags/t', oid: c('a') }] },
    },
  ])('$name', ({ remote, expected }) => {
    expect(toAnswer(repo, remote)).toEqual({ repo: repo.canonical, ...expected });
  });
});

describe('RefsCache', () => {
  const repo = (name: string): RepoRef => parseRepoUrl(`https://host.test/o/${name}`, policy);
  const answerOf = (r: RepoRef): RefsAnswer => ({ repo: r.canonical, refs: [] });

  it('shares one listing per repository within the TTL, lists again after it, and forgets failures', async () => {
    let now = 0;
    const calls: string[] = [];
    let fail = false;
    const cache = new RefsCache({
      git: context,
      ttlMs: 5000,
      now: () => now,
      // The listing is injected: what is under test is only the cache's bookkeeping.
      list: async (r) => {
        calls.push(r.canonical);
        if (fail) throw new Error('upstream down');
        return answerOf(r);
      },
    });
    const [a, b] = await Promise.all([cache.get(repo('a')), cache.get(repo('a'))]);
    expect(a).toBe(b);
    expect(calls).toHaveLength(1);
    now = 4999;
    await cache.get(repo('a'));
    expect(calls).toHaveLength(1);
    now = 5000;
    await cache.get(repo('a'));
    expect(calls).toHaveLength(2);

    fail = true;
    await expect(cache.get(repo('b'))).rejects.toThrow('upstream down');
    fail = false;
    await expect(cache.get(repo('b'))).resolves.toEqual(answerOf(repo('b')));
    expect(calls.filter((name) => name === repo('b').canonical)).toHaveLength(2);
  });

  it('keeps at most maxEntries repositories, dropping the oldest', async () => {
    const calls: string[] = [];
    const cache = new RefsCache({ git: context, maxEntries: 2, list: async (r) => (calls.push(r.canonical), answerOf(r)) });
    for (const name of ['a', 'b', 'c', 'b', 'a']) await cache.get(repo(name));
    // a was dropped when c came, so it is listed again; b stayed.
    expect(calls.map((canonical) => canonical.split('/').at(-1))).toEqual(['a', 'b', 'c', 'a']);
  });

  it('lists a real repository once for concurrent callers', async () => {
    const cache = new RefsCache({ git: context });
    const before = uploadPacks;
    const r = parseRepoUrl(`${server.url}/o/custom`, { ...policy, allowedHosts: [server.host] });
    const answers = await Promise.all(Array.from({ length: 5 }, () => cache.get(r)));
    expect(new Set(answers).size).toBe(1);
    expect(uploadPacks - before).toBe(1);
  });
});
