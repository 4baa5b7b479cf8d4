import { describe, expect, it } from 'vitest';
import type { FileShape } from '../../../src/protocol/file-url.js';
import { fileUrlPolicy } from '../../../src/worker/artifacts/file-hosts.js';
import { fileRevision } from '../../../src/worker/artifacts/file-revision.js';
import { loadConfig } from '../../../src/worker/config.js';

const SHA = '0123456789abcdef0123456789abcdef01234567';

describe('the file host policy (first URL and every redirect hop)', () => {
  const config = loadConfig({ FERRY_FILE_HOSTS: 'files.example.com,cdn.example.com:8443' });

  it('lets through https URLs on FERRY_ALLOWED_HOSTS or FERRY_FILE_HOSTS, ports included', () => {
    const check = fileUrlPolicy(config);
    for (const url of ['https://github.com/o/r/raw/main/a', 'https://files.example.com/a', 'https://cdn.example.com:8443/b']) {
      expect(() => check(new URL(url)), url).not.toThrow();
    }
  });

  it('refuses a host on neither list, naming it and the setting that allows it', () => {
    expect(() => fileUrlPolicy(config)(new URL('https://evil.example.net/a'))).toThrow(
      expect.objectContaining({ code: 'HOST_NOT_ALLOWED', status: 403, message: expect.stringMatching(/evil\.example\.net.*FERRY_FILE_HOSTS/) }),
    );
    // A listed name on another port is another host.
    expect(() => fileUrlPolicy(config)(new URL('https://files.example.com:444/a'))).toThrow(expect.objectContaining({ code: 'HOST_NOT_ALLOWED' }));
  });

  it('says which host redirected to a refused one', () => {
    const check = fileUrlPolicy(config);
    check(new URL('https://github.com/o/r/releases/download/v1/a.zip'));
    expect(() => check(new URL('https://evil.example.net/a.zip'))).toThrow(
      expect.objectContaining({ code: 'HOST_NOT_ALLOWED', message: expect.stringContaining('github.com redirected there') }),
    );
  });

  it('refuses plain http unless FERRY_ALLOW_HTTP, and any other scheme', () => {
    expect(() => fileUrlPolicy(config)(new URL('http://files.example.com/a'))).toThrow(expect.objectContaining({ code: 'INVALID_URL', message: expect.stringContaining('FERRY_ALLOW_HTTP=1') }));
    expect(() => fileUrlPolicy({ ...config, allowHttp: true })(new URL('http://files.example.com/a'))).not.toThrow();
    const check = fileUrlPolicy(config);
    check(new URL('https://files.example.com/a'));
    expect(() => check(new URL('ftp://files.example.com/a'))).toThrow(expect.objectContaining({ code: 'HOST_NOT_ALLOWED' }));
  });
});

describe('the revision a file URL names (done.commit, done.ref)', () => {
  const cases: [string, FileShape, { ref: string; commit: string }][] = [
    ['https://github.com/o/r/releases/download/v1.2.0/tool-linux.tar.gz', 'release-asset', { ref: 'v1.2.0', commit: '' }],
    ['https://gitee.com/o/r/releases/download/2024.1/a.zip', 'release-asset', { ref: '2024.1', commit: '' }],
    ['https://github.com/o/r/archive/refs/tags/v1.0.tar.gz', 'archive', { ref: 'v1.0', commit: '' }],
    ['https://github.com/o/r/archive/refs/heads/main.zip', 'archive', { ref: 'main', commit: '' }],
    [`https://github.com/o/r/archive/${SHA}.tar.gz`, 'archive', { ref: '', commit: SHA }],
    ['https://gitlab.com/g/r/-/archive/v2/r-v2.tar.gz', 'archive', { ref: 'v2', commit: '' }],
    ['https://codeload.github.com/o/r/tar.gz/refs/tags/v3', 'archive', { ref: 'v3', commit: '' }],
    [`https://codeload.github.com/o/r/zip/${SHA}`, 'archive', { ref: '', commit: SHA }],
    [`https://raw.githubusercontent.com/o/r/${SHA}/docs/a.md`, 'raw', { ref: '', commit: SHA }],
    [`https://raw.githubusercontent.com/o/r/${SHA.toUpperCase()}/a.md`, 'raw', { ref: '', commit: SHA }],
    ['https://raw.githubusercontent.com/o/r/main/a.md', 'raw', { ref: '', commit: '' }],
    ['https://files.example.com/a/b.iso', 'plain', { ref: '', commit: '' }],
  ];
  for (const [url, shape, expected] of cases) {
    it(`${url}`, () => {
      expect(fileRevision({ url, shape, filename: 'x', immutable: false })).toEqual(expected);
    });
  }
});

describe('file settings', () => {
  it('reads FERRY_MAX_FILE_BYTES (2 GiB by default), FERRY_FILE_HOSTS and FERRY_FORGES', () => {
    const defaults = loadConfig({});
    expect(defaults.maxFileBytes).toBe(2 * 1024 ** 3);
    expect(defaults.fileHosts).toContain('release-assets.githubusercontent.com');
    expect(defaults.forges.size).toBe(0);
    const set = loadConfig({ FERRY_MAX_FILE_BYTES: '1000', FERRY_FILE_HOSTS: 'A.example.com, b.example.com', FERRY_FORGES: 'git.example.com=gitlab, code.example.org=gitea' });
    expect(set.maxFileBytes).toBe(1000);
    expect(set.fileHosts).toEqual(['a.example.com', 'b.example.com']);
    expect([...set.forges]).toEqual([['git.example.com', 'gitlab'], ['code.example.org', 'gitea']]);
  });

  it('refuses a FERRY_FORGES entry that is not host=forge, or names no known forge', () => {
    expect(() => loadConfig({ FERRY_FORGES: 'git.example.com' })).toThrow(/host=forge/);
    expect(() => loadConfig({ FERRY_FORGES: 'git.example.com=svn' })).toThrow(/github, gitlab, gitea, gitee/);
  });

  it('refuses a FERRY_MAX_FILE_BYTES that does not fit in OSS multipart parts of FERRY_PART_SIZE', () => {
    expect(() => loadConfig({ FERRY_PART_SIZE: String(100 * 1024), FERRY_MAX_ARCHIVE_BYTES: '1000', FERRY_MAX_FILE_BYTES: String(1024 ** 4) })).toThrow(/FERRY_MAX_FILE_BYTES/);
  });
});
