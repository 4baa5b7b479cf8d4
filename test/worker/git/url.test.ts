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
