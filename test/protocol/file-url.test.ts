import { describe, expect, it } from 'vitest';
import { FerryError } from '../../src/protocol/errors.js';
import { DEFAULT_FILE_HOSTS, parseFileUrl, safeFilename, type FileTarget, type Forge } from '../../src/protocol/file-url.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const SHA256 = 'ab'.repeat(32);
const RAW = 'https://raw.githubusercontent.com';

type Row = [input: string, url: string, shape: FileTarget['shape'], filename: string, immutable: boolean];

function expectTarget([input, url, shape, filename, immutable]: Row, forges?: ReadonlyMap<string, Forge>): void {
  expect(parseFileUrl(input, forges ? { forges } : {})).toEqual({ url, shape, filename, immutable });
}

describe('parseFileUrl: GitHub', () => {
  it.each<Row>([
    // release assets
    ['https://github.com/o/r/releases/download/v1.0/app.tar.gz', 'https://github.com/o/r/releases/download/v1.0/app.tar.gz', 'release-asset', 'app.tar.gz', true],
    ['github.com/o/r/releases/download/v1.0/app%20x.zip#frag', 'https://github.com/o/r/releases/download/v1.0/app%20x.zip', 'release-asset', 'app x.zip', true],
    ['https://github.com/o/r/releases/download/v1.0/app.zip?x=1', 'https://github.com/o/r/releases/download/v1.0/app.zip', 'release-asset', 'app.zip', true],
    ['https://github.com/o/r/releases/latest/download/app.zip', 'https://github.com/o/r/releases/latest/download/app.zip', 'release-asset', 'app.zip', false],
    // raw files
    [`${RAW}/o/r/main/docs/README.md`, `${RAW}/o/r/main/docs/README.md`, 'raw', 'README.md', false],
    [`${RAW}/o/r/${SHA}/a.txt`, `${RAW}/o/r/${SHA}/a.txt`, 'raw', 'a.txt', true],
    [`${RAW}/o/r/${SHA256}/a.txt`, `${RAW}/o/r/${SHA256}/a.txt`, 'raw', 'a.txt', true],
    [`${RAW}/o/r/${SHA.slice(0, 12)}/a.txt`, `${RAW}/o/r/${SHA.slice(0, 12)}/a.txt`, 'raw', 'a.txt', false],
    [`${RAW}/o/r/refs/heads/main/a.txt`, `${RAW}/o/r/refs/heads/main/a.txt`, 'raw', 'a.txt', false],
    // /blob/ and /raw/ on github.com go straight to raw.githubusercontent.com, without ?raw=true
    ['https://github.com/o/r/blob/main/src/x.ts?raw=true', `${RAW}/o/r/main/src/x.ts`, 'raw', 'x.ts', false],
    [`https://github.com/o/r/blob/${SHA}/src/x.ts`, `${RAW}/o/r/${SHA}/src/x.ts`, 'raw', 'x.ts', true],
    ['https://github.com/o/r/raw/v2/bin/tool', `${RAW}/o/r/v2/bin/tool`, 'raw', 'tool', false],
    ['https://GitHub.com/o/r/raw/refs/heads/main/.env', `${RAW}/o/r/refs/heads/main/.env`, 'raw', 'env', false],
    // source archives
    ['https://github.com/o/r/archive/refs/tags/v1.0.tar.gz', 'https://github.com/o/r/archive/refs/tags/v1.0.tar.gz', 'archive', 'r-v1.0.tar.gz', true],
    ['https://github.com/o/r/archive/refs/heads/main.zip', 'https://github.com/o/r/archive/refs/heads/main.zip', 'archive', 'r-main.zip', false],
    ['https://github.com/o/r/archive/refs/heads/feature/x.zip', 'https://github.com/o/r/archive/refs/heads/feature/x.zip', 'archive', 'r-feature-x.zip', false],
    [`https://github.com/o/r/archive/${SHA}.tar.gz`, `https://github.com/o/r/archive/${SHA}.tar.gz`, 'archive', `r-${SHA}.tar.gz`, true],
    // a bare name may be a branch: revalidated, not trusted
    ['https://github.com/o/r/archive/v1.0.tar.gz', 'https://github.com/o/r/archive/v1.0.tar.gz', 'archive', 'r-v1.0.tar.gz', false],
    ['https://codeload.github.com/o/r/tar.gz/refs/tags/v1', 'https://codeload.github.com/o/r/tar.gz/refs/tags/v1', 'archive', 'r-v1.tar.gz', true],
    ['https://codeload.github.com/o/r/zip/main', 'https://codeload.github.com/o/r/zip/main', 'archive', 'r-main.zip', false],
    // gists
    ['https://gist.github.com/user/abc123', 'https://gist.githubusercontent.com/user/abc123/raw', 'gist', 'abc123', false],
    [`https://gist.github.com/user/abc123/${SHA}`, `https://gist.githubusercontent.com/user/abc123/raw/${SHA}`, 'gist', 'abc123', true],
    ['https://gist.github.com/user/abc123/raw/notes.md', 'https://gist.github.com/user/abc123/raw/notes.md', 'gist', 'notes.md', false],
    [`https://gist.githubusercontent.com/user/abc123/raw/${SHA}/notes.md`, `https://gist.githubusercontent.com/user/abc123/raw/${SHA}/notes.md`, 'gist', 'notes.md', true],
    ['https://gist.githubusercontent.com/user/abc123/raw', 'https://gist.githubusercontent.com/user/abc123/raw', 'gist', 'abc123', false],
    // hosts that only serve files
    ['https://objects.githubusercontent.com/github-production-release-asset/1/2?X-Amz-Signature=s', 'https://objects.githubusercontent.com/github-production-release-asset/1/2?X-Amz-Signature=s', 'plain', '2', false],
  ])('%s', (...row) => expectTarget(row));

  it('rewrites /blob/ to /raw/ on the same host for a host aliased to github', () => {
    const forges = new Map<string, Forge>([['ghe.example.com', 'github']]);
    expectTarget(['https://ghe.example.com/o/r/blob/main/a/b.txt', 'https://ghe.example.com/o/r/raw/main/a/b.txt', 'raw', 'b.txt', false], forges);
    expectTarget(['https://ghe.example.com/o/r/releases/download/v1/x.bin', 'https://ghe.example.com/o/r/releases/download/v1/x.bin', 'release-asset', 'x.bin', true], forges);
    expect(parseFileUrl('https://ghe.example.com/o/r/tree/main', { forges })).toBeUndefined();
  });
});

describe('parseFileUrl: GitLab, Gitee, Codeberg, Bitbucket', () => {
  it.each<Row>([
    ['https://gitlab.com/g/sub/p/-/blob/main/a/b.c?ref_type=heads', 'https://gitlab.com/g/sub/p/-/raw/main/a/b.c', 'raw', 'b.c', false],
    [`https://gitlab.com/g/p/-/raw/${SHA}/b.c`, `https://gitlab.com/g/p/-/raw/${SHA}/b.c`, 'raw', 'b.c', true],
    ['https://gitlab.com/g/p/-/archive/v1.0/p-v1.0.tar.gz', 'https://gitlab.com/g/p/-/archive/v1.0/p-v1.0.tar.gz', 'archive', 'p-v1.0.tar.gz', false],
    [`https://gitlab.com/g/p/-/archive/${SHA}/p-${SHA}.zip`, `https://gitlab.com/g/p/-/archive/${SHA}/p-${SHA}.zip`, 'archive', `p-${SHA}.zip`, true],
    ['https://gitlab.com/g/p/-/releases/v1.0/downloads/bin/app', 'https://gitlab.com/g/p/-/releases/v1.0/downloads/bin/app', 'release-asset', 'app', true],
    ['https://gitee.com/o/r/blob/master/README.md', 'https://gitee.com/o/r/raw/master/README.md', 'raw', 'README.md', false],
    ['https://gitee.com/o/r/raw/master/README.md', 'https://gitee.com/o/r/raw/master/README.md', 'raw', 'README.md', false],
    ['https://gitee.com/o/r/releases/download/v1/app.exe', 'https://gitee.com/o/r/releases/download/v1/app.exe', 'release-asset', 'app.exe', true],
    ['https://gitee.com/o/r/repository/archive/v1.zip', 'https://gitee.com/o/r/repository/archive/v1.zip', 'archive', 'r-v1.zip', false],
    ['https://codeberg.org/o/r/src/branch/main/docs/a.md', 'https://codeberg.org/o/r/raw/branch/main/docs/a.md', 'raw', 'a.md', false],
    ['https://codeberg.org/o/r/src/tag/v1/a.md', 'https://codeberg.org/o/r/raw/tag/v1/a.md', 'raw', 'a.md', false],
    [`https://codeberg.org/o/r/src/commit/${SHA}/a.md`, `https://codeberg.org/o/r/raw/commit/${SHA}/a.md`, 'raw', 'a.md', true],
    ['https://codeberg.org/o/r/raw/branch/main/a.md', 'https://codeberg.org/o/r/raw/branch/main/a.md', 'raw', 'a.md', false],
    ['https://codeberg.org/o/r/releases/download/v1/app.tgz', 'https://codeberg.org/o/r/releases/download/v1/app.tgz', 'release-asset', 'app.tgz', true],
    ['https://codeberg.org/o/r/archive/v1.tar.gz', 'https://codeberg.org/o/r/archive/v1.tar.gz', 'archive', 'r-v1.tar.gz', false],
    ['https://bitbucket.org/w/r/src/main/a.txt', 'https://bitbucket.org/w/r/raw/main/a.txt', 'raw', 'a.txt', false],
    ['https://bitbucket.org/w/r/get/v1.tar.gz', 'https://bitbucket.org/w/r/get/v1.tar.gz', 'archive', 'r-v1.tar.gz', false],
    ['https://bitbucket.org/w/r/downloads/app.zip', 'https://bitbucket.org/w/r/downloads/app.zip', 'plain', 'app.zip', false],
  ])('%s', (...row) => expectTarget(row));

  it('reads a host aliased to gitlab or gitea with that forge’s shapes (the port kept)', () => {
    const forges = new Map<string, Forge>([
      ['git.example.com', 'gitlab'],
      ['gitea.example.com:3000', 'gitea'],
    ]);
    expectTarget(['https://git.example.com/a/b/-/blob/main/x.y', 'https://git.example.com/a/b/-/raw/main/x.y', 'raw', 'x.y', false], forges);
    expectTarget(['http://gitea.example.com:3000/a/b/src/branch/main/x', 'http://gitea.example.com:3000/a/b/raw/branch/main/x', 'raw', 'x', false], forges);
  });
});

describe('parseFileUrl: repositories and unknown shapes', () => {
  it.each([
    'https://github.com/o/r',
    'https://github.com/o/r.git',
    'github.com/o/r/',
    'https://github.com/o/r/tree/main/src',
    `https://github.com/o/r/commit/${SHA}`,
    'https://github.com/o/r/releases/tag/v1',
    'https://github.com/o',
    'https://github.com/',
    'git@github.com:o/r.git',
    'https://gitlab.com/g/sub/p',
    'https://gitlab.com/g/p/-/tree/main',
    'https://gitee.com/o/r/tree/master',
    'https://codeberg.org/o/r/src/branch/main',
    'https://bitbucket.org/w/r',
    'https://gist.github.com/user',
    'https://gist.github.com/user/abc.git',
  ])('%s names a repository', (input) => {
    expect(parseFileUrl(input)).toBeUndefined();
    expect(parseFileUrl(input, { plain: true })).toBeUndefined();
  });

  it('leaves unknown hosts and unknown shapes to the caller, or fetches them as plain files when asked', () => {
    expect(parseFileUrl('https://example.com/dl/tool-1.0.tar.gz?mirror=2')).toBeUndefined();
    expect(parseFileUrl('https://example.com/dl/tool-1.0.tar.gz?mirror=2#x', { plain: true })).toEqual({
      url: 'https://example.com/dl/tool-1.0.tar.gz?mirror=2',
      shape: 'plain',
      filename: 'tool-1.0.tar.gz',
      immutable: false,
    });
    expect(parseFileUrl('https://example.com/', { plain: true })?.filename).toBe('example.com');
    expect(parseFileUrl('https://example.com/x/repo.git', { plain: true })).toBeUndefined();
    expect(parseFileUrl('https://github.com/o/r/wiki/Page')).toBeUndefined();
    expect(parseFileUrl('https://github.com/o/r/wiki/Page', { plain: true })?.shape).toBe('plain');
  });
});

describe('parseFileUrl: refused input', () => {
  it.each([
    ['ftp://github.com/o/r/releases/download/v1/a', /https/],
    ['javascript:alert(1)', /https/],
    ['https://user:token@github.com/o/r/releases/download/v1/a', /token/],
    ['https://x@github.com/o/r/releases/download/v1/a', /user name/],
    [`https://github.com/o/r/releases/download/v1/${'a'.repeat(2100)}`, /longer than 2048/],
    ['https://github.com/o/r/blob/main/a b', /spaces/],
    ['https://github.com/o/r/blob/main/a\\b', /backslash/],
    ['https://github.com/o/r/blob/main/a\u0000b', /control/],
    ['https://github.com/o/r/blob/main/a\nb', /control/],
    ['https://', /not a URL/],
    ['', /Expected/],
  ])('%j', (input, message) => {
    let thrown: unknown;
    try {
      parseFileUrl(input);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(FerryError);
    expect((thrown as FerryError).code).toBe('INVALID_URL');
    expect((thrown as FerryError).message).toMatch(message);
  });
});

describe('safeFilename', () => {
  it.each([
    ['app.tar.gz', 'app.tar.gz'],
    ['../../etc/passwd', '_.._etc_passwd'],
    ['..', 'download'],
    ['.bashrc', 'bashrc'],
    ['a/b\\c', 'a_b_c'],
    ['con:x*?.txt', 'con_x__.txt'],
    ['name.', 'name'],
    ['  ', 'download'],
    ['报告.pdf', '报告.pdf'],
    ['x'.repeat(300), 'x'.repeat(200)],
  ])('%j → %j', (input, expected) => {
    expect(safeFilename(input)).toBe(expected);
  });

  it('DEFAULT_FILE_HOSTS holds the hosts release assets redirect to', () => {
    expect(DEFAULT_FILE_HOSTS).toEqual(expect.arrayContaining(['objects.githubusercontent.com', 'release-assets.githubusercontent.com', 'codeload.github.com']));
  });
});
