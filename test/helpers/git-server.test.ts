import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGitServer, type GitServer } from './git-server.js';
import { fixtureRoot, git, gitArchiveFiles, gitRevParse } from './fixtures.js';

let server: GitServer;
let root: string;
let tmp: string;
const uploadPackUrls: string[] = [];

beforeAll(async () => {
  root = await fixtureRoot();
  tmp = await mkdtemp(path.join(tmpdir(), 'ferry-git-server-'));
  server = await startGitServer({
    root,
    onRequest: (req) => {
      if (req.method === 'POST' && req.url?.endsWith('/git-upload-pack')) uploadPackUrls.push(req.url);
    },
  });
});

afterAll(async () => {
  await server?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const basicDir = (): string => path.join(root, 'fixtures', 'basic.git');

/** `git ls-remote` output as a ref → id map. */
async function lsRemote(url: string, ...config: string[]): Promise<Map<string, string>> {
  const out = await git([...config, 'ls-remote', url]);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [id, ref] = line.split('\t');
    if (id && ref) refs.set(ref, id);
  }
  return refs;
}

describe('fixtures', () => {
  it('builds deterministic commits', async () => {
    // Fixed identities and dates: these ids only change when make-repos.sh changes.
    expect(await gitRevParse(basicDir(), 'main')).toBe('a37b44c1b960b7ad55958ebe26f46efa765b5338');
    expect(await gitRevParse(basicDir(), 'v1.0.0^{commit}')).toBe('d0fb052d85875789c22bc6fd7cd96bc7996e3efc');
  });

  it('lists the files git archive would write, with modes and hashes', async () => {
    const files = await gitArchiveFiles(basicDir(), 'main');
    const byPath = new Map(files.map((f) => [f.path, f]));
    expect(byPath.get('run.sh')?.mode).toBe('100755');
    expect(byPath.get('link-to-readme')).toMatchObject({ mode: '120000', size: 'README.md'.length });
    expect(byPath.get('dir with space/ünïcödé 文件.txt')?.mode).toBe('100644');
    expect(byPath.get('assets/data.bin')?.size).toBe(4096);
    expect(byPath.get('empty.txt')).toMatchObject({
      size: 0,
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
    expect(byPath.has('nested/a/b/c/deep.txt')).toBe(true);
    expect(byPath.has('feature-x.txt')).toBe(false);
    expect(files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256))).toBe(true);
  });
});

describe('git smart-HTTP server', () => {
  it('serves a URL with and without the .git suffix', async () => {
    for (const suffix of ['', '.git']) {
      const dest = path.join(tmp, `clone${suffix || '-plain'}.git`);
      await git(['clone', '--quiet', '--bare', `${server.url}/fixtures/basic${suffix}`, dest]);
      expect(await gitRevParse(dest, 'HEAD')).toBe(await gitRevParse(basicDir(), 'main'));
      expect(await gitRevParse(dest, 'feature/x')).toBe(await gitRevParse(basicDir(), 'feature/x'));
      expect(await gitArchiveFiles(dest, 'main')).toEqual(await gitArchiveFiles(basicDir(), 'main'));
    }
  });

  it('advertises branches and tags to ls-remote', async () => {
    const refs = await lsRemote(`${server.url}/fixtures/basic.git`);
    expect([...refs.keys()].sort()).toEqual([
      'HEAD',
      'refs/heads/feature/x',
      'refs/heads/main',
      'refs/heads/release',
      'refs/tags/v0.1',
      'refs/tags/v1.0.0',
      'refs/tags/v1.0.0^{}',
    ]);
    expect(refs.get('HEAD')).toBe(refs.get('refs/heads/main'));
    expect(refs.get('refs/tags/v1.0.0^{}')).toBe(await gitRevParse(basicDir(), 'v1.0.0^{commit}'));
  });

  it('speaks protocol v2 when the client asks for it', async () => {
    const url = `${server.url}/fixtures/basic/info/refs?service=git-upload-pack`;
    const v2 = await fetch(url, { headers: { 'Git-Protocol': 'version=2' } });
    expect(v2.headers.get('content-type')).toBe('application/x-git-upload-pack-advertisement');
    expect(await v2.text()).toContain('version 2');
    expect(await (await fetch(url)).text()).not.toContain('version 2');

    const v0Before = uploadPackUrls.length;
    await git(['-c', 'protocol.version=0', 'ls-remote', `${server.url}/fixtures/basic`]);
    expect(uploadPackUrls.length).toBe(v0Before);
    const before = uploadPackUrls.length;
    const out = await git(['-c', 'protocol.version=2', 'ls-remote', '--symref', `${server.url}/fixtures/basic`, 'HEAD']);
    expect(out).toContain('ref: refs/heads/main\tHEAD');
    // v2 lists refs with an ls-refs command POSTed to git-upload-pack; v0 would only GET info/refs.
    expect(uploadPackUrls.length).toBeGreaterThan(before);
  });

  it('accepts chunked, gzip-compressed request bodies', async () => {
    // A protocol v2 ls-refs command, gzipped and streamed without a Content-Length (chunked).
    const request = gzipSync(Buffer.from('0014command=ls-refs\n0001000csymrefs\n0000'));
    const response = await fetch(`${server.url}/fixtures/basic.git/git-upload-pack`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-git-upload-pack-request',
        'Content-Encoding': 'gzip',
        'Git-Protocol': 'version=2',
      },
      body: Readable.toWeb(Readable.from([request.subarray(0, 10), request.subarray(10)])) as ReadableStream<Uint8Array>,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-git-upload-pack-result');
    const body = await response.text();
    expect(body).toContain(`${await gitRevParse(basicDir(), 'main')} HEAD symref-target:refs/heads/main`);
    expect(body).toContain('refs/tags/v1.0.0');
  });

  it('serves a shallow fetch of one commit', async () => {
    const dest = path.join(tmp, 'shallow.git');
    await git(['init', '--quiet', '--bare', dest]);
    for (const version of ['0', '2']) {
      await git(['-C', dest, '-c', `protocol.version=${version}`, 'fetch', '--quiet', '--depth', '1', `${server.url}/fixtures/basic`, 'refs/tags/v1.0.0:refs/tags/v1.0.0']);
      const shallow = (await git(['-C', dest, 'rev-parse', '--is-shallow-repository'])).trim();
      expect(shallow).toBe('true');
      expect(await gitRevParse(dest, 'v1.0.0^{commit}')).toBe(await gitRevParse(basicDir(), 'v1.0.0^{commit}'));
      expect((await git(['-C', dest, 'rev-list', '--count', 'v1.0.0'])).trim()).toBe('1');
    }
  });

  it('fetches a commit by id, as GitHub allows', async () => {
    const dest = path.join(tmp, 'by-id.git');
    await git(['init', '--quiet', '--bare', dest]);
    const id = await gitRevParse(basicDir(), 'release~1');
    await git(['-C', dest, '-c', 'protocol.version=2', 'fetch', '--quiet', '--depth', '1', `${server.url}/fixtures/basic`, id]);
    expect((await git(['-C', dest, 'cat-file', '-t', id])).trim()).toBe('commit');
  });

  it('answers 404 for an unknown repository', async () => {
    const response = await fetch(`${server.url}/fixtures/nope.git/info/refs?service=git-upload-pack`);
    expect(response.status).toBe(404);
    await expect(git(['ls-remote', `${server.url}/fixtures/nope`])).rejects.toThrow(/not found/);
    expect((await fetch(`${server.url}/fixtures/..%2Ffixtures/info/refs`)).status).toBe(404);
  });

  it('lists nothing for an empty repository', async () => {
    expect(await git(['ls-remote', `${server.url}/fixtures/empty`])).toBe('');
    expect(await git(['-c', 'protocol.version=2', 'ls-remote', `${server.url}/fixtures/empty.git`])).toBe('');
  });

  it('serves a repository with ten thousand files', async () => {
    const dest = path.join(tmp, 'many.git');
    await git(['clone', '--quiet', '--bare', '--depth', '1', `${server.url}/fixtures/many`, dest]);
    const files = (await git(['-C', dest, 'ls-tree', '-r', '--name-only', 'HEAD'])).trim().split('\n');
    expect(files).toHaveLength(10_000);
    expect(files).toContain('d9/e9/f99.txt');
  });

  it('counts requests', () => {
    expect(server.requests).toBeGreaterThan(10);
  });
});
