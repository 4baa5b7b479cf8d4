import { describe, expect, it } from 'vitest';
import { DEFAULT_ALLOWED_HOSTS } from '../../../src/protocol/hosts.js';
import { FerryError } from '../../../src/protocol/errors.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';

const policy = { allowedHosts: [...DEFAULT_ALLOWED_HOSTS, 'git.example.org:8443', '127.0.0.1:9999'], allowHttp: false };

describe('parseRepoUrl normalises one repository to one spelling', () => {
  const same = 'https://github.com/expressjs/express';
  it.each([
    ['https://github.com/expressjs/express', same],
    ['https://github.com/expressjs/express.git', same],
    ['https://github.com/expressjs/express/', same],
    ['https://github.com/expressjs/express.git/', same],
    ['https://GitHub.COM/expressjs/express', same],
    ['https://github.com/ExpressJS/Express', same],
    ['  https://github.com/expressjs/express  ', same],
    ['github.com/expressjs/express', same],
    ['git@github.com:expressjs/express.git', same],
    ['https://github.com:443/expressjs/express', same],
    ['https://github.com/expressjs/express/tree/main/lib', same],
    ['https://gitlab.com/group/sub/project', 'https://gitlab.com/group/sub/project'],
    ['https://gitlab.com/group/sub/project.git', 'https://gitlab.com/group/sub/project'],
    ['https://git.example.org:8443/Team/Repo', 'https://git.example.org:8443/Team/Repo'],
    ['https://github.com/vuejs/.github', 'https://github.com/vuejs/.github'],
  ])('%s → %s', (input, canonical) => {
    expect(parseRepoUrl(input, policy).canonical).toBe(canonical);
  });

  it('keeps what git fetches and what files are named', () => {
    const repo = parseRepoUrl('https://github.com/ExpressJS/Express.git', policy);
    expect(repo.fetchUrl).toBe('https://github.com/ExpressJS/Express.git');
    expect(repo.name).toBe('Express');
    expect(repo.host).toBe('github.com');
    expect(repo.segments).toEqual(['expressjs', 'express']);
  });
});

describe('parseRepoUrl rejects what it must not fetch', () => {
  it.each([
    [undefined, 'INVALID_URL'],
    [42, 'INVALID_URL'],
    ['', 'INVALID_URL'],
    ['not a url', 'INVALID_URL'],
    ['https://github.com', 'INVALID_URL'],
    ['https://github.com/onlyowner', 'INVALID_URL'],
    ['ftp://github.com/a/b', 'INVALID_URL'],
    ['file:///etc/passwd', 'INVALID_URL'],
    ['ext::sh -c touch% /tmp/pwned', 'INVALID_URL'],
    ['http://github.com/a/b', 'INVALID_URL'],
    ['https://user:token@github.com/a/b', 'INVALID_URL'],
    ['https://github.com/a/b?x=1', 'INVALID_URL'],
    ['https://github.com/a/b#frag', 'INVALID_URL'],
    ['https://github.com/-a/b', 'INVALID_URL'],
    ['https://github.com/a/--upload-pack=evil', 'INVALID_URL'],
    ['https://github.com/a/%2e%2e', 'INVALID_URL'],
    ['https://github.com/a/b%00', 'INVALID_URL'],
    ['https://github.com/a/b\\c', 'INVALID_URL'],
    [`https://github.com/a/${'x'.repeat(600)}`, 'INVALID_URL'],
    ['https://evil.example.com/a/b', 'HOST_NOT_ALLOWED'],
    ['https://github.com.evil.com/a/b', 'HOST_NOT_ALLOWED'],
    ['https://127.0.0.1/a/b', 'HOST_NOT_ALLOWED'],
    ['https://169.254.169.254/latest/meta-data', 'HOST_NOT_ALLOWED'],
    ['https://[::1]/a/b', 'HOST_NOT_ALLOWED'],
    ['https://github.com:8443/a/b', 'HOST_NOT_ALLOWED'],
    ['https://git.example.org/a/b', 'HOST_NOT_ALLOWED'],
    ['https://127.0.0.1:9999/a/b', 'OK'],
  ])('%s → %s', (input, code) => {
    let result: string;
    try {
      parseRepoUrl(input, policy);
      result = 'OK';
    } catch (error) {
      expect(error).toBeInstanceOf(FerryError);
      result = (error as FerryError).code;
    }
    expect(result).toBe(code);
  });

  it('allows http only when the operator says so', () => {
    expect(parseRepoUrl('http://127.0.0.1:9999/a/b', { ...policy, allowHttp: true }).canonical).toBe('http://127.0.0.1:9999/a/b');
  });

  it('says which hosts are allowed', () => {
    expect(() => parseRepoUrl('https://evil.example.com/a/b', policy)).toThrow(/Allowed hosts: github\.com/);
  });
});

describe('parseRepoUrl reads what a URL names beyond the repository', () => {
  const sha = 'a'.repeat(40);
  it.each([
    ['https://github.com/expressjs/express/tree/4.x', 'https://github.com/expressjs/express', { kind: 'tree', segments: ['4.x'] }],
    ['https://github.com/o/r/tree/feature/x/lib/a.js', 'https://github.com/o/r', { kind: 'tree', segments: ['feature', 'x', 'lib', 'a.js'] }],
    ['https://github.com/o/r/tree/feature%2Fx', 'https://github.com/o/r', { kind: 'tree', segments: ['feature/x'] }],
    [`https://github.com/o/r/commit/${sha}`, 'https://github.com/o/r', { kind: 'commit', commit: sha }],
    [`https://github.com/o/r/commit/${'B'.repeat(40)}`, 'https://github.com/o/r', { kind: 'commit', commit: 'b'.repeat(40) }],
    ['https://gitlab.com/group/sub/project/-/tree/main', 'https://gitlab.com/group/sub/project', { kind: 'tree', segments: ['main'] }],
    ['https://git.example.org:8443/team/repo/tree/dev', 'https://git.example.org:8443/team/repo', { kind: 'tree', segments: ['dev'] }],
    // Pages that name no version stand for the repository.
    ['https://github.com/o/r/issues/12', 'https://github.com/o/r', undefined],
    ['https://github.com/o/r/tree', 'https://github.com/o/r', undefined],
    ['https://github.com/o/r/releases', 'https://github.com/o/r', undefined],
    ['https://github.com/o/r', 'https://github.com/o/r', undefined],
  ])('%s → %s %j', (input, canonical, hint) => {
    const repo = parseRepoUrl(input, policy);
    expect(repo.canonical).toBe(canonical);
    expect(repo.refHint).toEqual(hint);
  });

  it.each([
    ['expressjs/express', 'https://github.com/expressjs/express'],
    ['expressjs/express/', 'https://github.com/expressjs/express'],
    ['vuejs/.github', 'https://github.com/vuejs/.github'],
    ['my_org/repo.js', 'https://github.com/my_org/repo.js'],
    // A dot or a port in the first segment makes it a host.
    ['gitlab.com/group/project', 'https://gitlab.com/group/project'],
  ])('shorthand %s → %s', (input, canonical) => {
    expect(parseRepoUrl(input, policy).canonical).toBe(canonical);
  });

  it('a shorthand is refused only because github.com is, and says so', () => {
    expect(() => parseRepoUrl('expressjs/express', { allowedHosts: ['gitlab.com'], allowHttp: false })).toThrow(/Repositories on github\.com are not served here/);
  });

  it.each([
    ['https://github.com/o/r/blob/main/index.js', 'INVALID_URL', /is a file \(a file in the repository\), not a repository: fetch it as a file/],
    ['https://github.com/o/r/raw/main/index.js', 'INVALID_URL', /is a file/],
    ['https://github.com/o/r/releases/download/v1/x.tgz', 'INVALID_URL', /is a file \(a release asset\)/],
    ['https://github.com/o/r/archive/refs/tags/v1.tar.gz', 'INVALID_URL', /is a file \(a source archive\)/],
    ['https://gitlab.com/g/p/-/raw/main/a.txt', 'INVALID_URL', /is a file/],
    ['https://github.com/o/r/commit/abc1234', 'INVALID_REF', /short commit id.*full 40-character id/],
    ['https://github.com/o/r/commit/main', 'INVALID_URL', /does not name a commit/],
    [`https://github.com/o/r/commit/${'a'.repeat(40)}/x`, 'INVALID_URL', /does not name a commit/],
  ])('%s → %s', (input, code, message) => {
    const error = (() => {
      try {
        parseRepoUrl(input, policy);
      } catch (e) {
        return e as FerryError;
      }
      throw new Error('accepted');
    })();
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });
});
