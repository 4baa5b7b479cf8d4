import { execFile } from 'node:child_process';
import { FerryError } from '../errors.js';

/**
 * The oldest git ferry runs: 2.31 added `GIT_CONFIG_COUNT`, which carries the safety settings of env.ts
 * (no redirects, no transport but http(s), no credential prompts), and 2.32 `GIT_CONFIG_GLOBAL`, which
 * keeps the user's own config out. An older git ignores those variables without a word, so it would
 * fetch with none of the settings: such a git is refused rather than trusted.
 */
export const MIN_GIT_VERSION: readonly [number, number] = [2, 32];

/** `git version 2.39.5` (and vendor suffixes such as `(Apple Git-146)`, `.windows.1`) → [2, 39, 5]. */
export function parseGitVersion(output: string): [number, number, number] | undefined {
  const match = /^git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(output.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : undefined;
}

export function isSupportedGit(version: readonly number[]): boolean {
  const [major = 0, minor = 0] = version;
  return major > MIN_GIT_VERSION[0] || (major === MIN_GIT_VERSION[0] && minor >= MIN_GIT_VERSION[1]);
}

let checked: Promise<void> | undefined;

/** Resolves once per process if this machine's git is new enough; otherwise every call rejects with why. */
export function assertSupportedGit(): Promise<void> {
  checked ??= new Promise<void>((resolve, reject) => {
    execFile('git', ['--version'], { timeout: 10_000 }, (error, stdout) => {
      if (error) {
        reject(new FerryError('GIT_FAILED', 'git is not installed on this worker (or not on its PATH).', { cause: error }));
        return;
      }
      const version = parseGitVersion(stdout);
      if (version && isSupportedGit(version)) resolve();
      else reject(new FerryError('GIT_FAILED', `This worker's git (${stdout.trim() || 'unknown version'}) is older than ${MIN_GIT_VERSION.join('.')}, which ferry needs for its safety settings. Install a newer git.`));
    });
  });
  return checked;
}
