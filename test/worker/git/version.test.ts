import { describe, expect, it } from 'vitest';
import { checkGitVersion, isSupportedGit, parseGitVersion, supportedGitVerdict } from '../../../src/worker/git/version.js';

describe('git version', () => {
  it.each([
    ['git version 2.39.5', [2, 39, 5]],
    ['git version 2.32.0\n', [2, 32, 0]],
    ['git version 2.20.1', [2, 20, 1]],
    ['git version 2.39.3 (Apple Git-146)', [2, 39, 3]],
    ['git version 2.45.1.windows.1', [2, 45, 1]],
    ['git version 3.0', [3, 0, 0]],
    ['not git at all', undefined],
    ['', undefined],
  ])('parses %j', (output, expected) => {
    expect(parseGitVersion(output)).toEqual(expected);
  });

  it.each([
    [[2, 20, 1], false], // Debian 10's: ignores GIT_CONFIG_COUNT, so the safety settings would not apply
    [[2, 31, 8], false], // has GIT_CONFIG_COUNT but not GIT_CONFIG_GLOBAL
    [[2, 32, 0], false], // has both, but not http.curloptResolve: the SSRF guard's pinning would be ignored
    [[2, 37, 0], true],
    [[2, 39, 5], true],
    [[3, 0, 0], true],
    [[1, 99, 0], false],
  ])('%j is supported: %s', (version, supported) => {
    expect(isSupportedGit(version)).toBe(supported);
  });

  it("accepts this machine's git, run in the environment real git runs get", async () => {
    await expect(checkGitVersion()).resolves.toBeUndefined();
    await expect(supportedGitVerdict()()).resolves.toBeUndefined();
  });

  // The runner is injected here: an old or missing git cannot be installed for a test.
  it('refuses a too old git, saying which and what to do', async () => {
    await expect(checkGitVersion(async () => 'git version 2.20.1\n')).rejects.toMatchObject({
      code: 'GIT_FAILED',
      message: expect.stringMatching(/git version 2\.20\.1.*older than 2\.37.*Install a newer git/),
    });
  });

  it('tells a missing git from one that does not run', async () => {
    const enoent = Object.assign(new Error('spawn git ENOENT'), { code: 'ENOENT' });
    await expect(checkGitVersion(() => Promise.reject(enoent))).rejects.toMatchObject({ code: 'GIT_FAILED', message: expect.stringContaining('not installed') });
    const broken = Object.assign(new Error('Command failed: error while loading shared libraries'), { code: 127 });
    await expect(checkGitVersion(() => Promise.reject(broken))).rejects.toMatchObject({ code: 'GIT_FAILED', message: expect.stringContaining('does not run') });
  });

  it('remembers a pass and a too-old git, but checks again after any other failure', async () => {
    const runs: string[] = [];
    const verdict = supportedGitVerdict(async () => {
      runs.push('run');
      if (runs.length === 1) throw new Error('spawn EAGAIN');
      return 'git version 2.39.5';
    });
    await expect(verdict()).rejects.toMatchObject({ code: 'GIT_FAILED', message: expect.stringContaining('EAGAIN') });
    await expect(verdict()).resolves.toBeUndefined();
    await expect(verdict()).resolves.toBeUndefined();
    expect(runs).toHaveLength(2);

    let oldRuns = 0;
    const old = supportedGitVerdict(async () => {
      oldRuns++;
      return 'git version 2.20.1';
    });
    await expect(old()).rejects.toMatchObject({ code: 'GIT_FAILED' });
    await expect(old()).rejects.toMatchObject({ code: 'GIT_FAILED' });
    expect(oldRuns).toBe(1);
  });
});
