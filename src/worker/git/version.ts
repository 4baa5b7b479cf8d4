import { execFile } from 'node:child_process';
import { FerryError } from '../../protocol/errors.js';
import { gitEnv } from './env.js';

// 2.31 added `GIT_CONFIG_COUNT`, which carries env.ts's safety settings, 2.32 `GIT_CONFIG_GLOBAL`, and 2.37
// `http.curloptResolve`, which pins git's connection to the addresses the SSRF guard checked.
// An older git silently ignores what it does not know, so it is refused rather than trusted.
export const MIN_GIT_VERSION: readonly [number, number] = [2, 37];

/** `git version 2.39.5` (and vendor suffixes such as `(Apple Git-146)`, `.windows.1`) → [2, 39, 5]. */
export function parseGitVersion(output: string): [number, number, number] | undefined {
  const match = /^git version (\d+)\.(\d+)(?:\.(\d+))?/.exec(output.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : undefined;
}

export function isSupportedGit(version: readonly number[]): boolean {
  const [major = 0, minor = 0] = version;
  return major > MIN_GIT_VERSION[0] || (major === MIN_GIT_VERSION[0] && minor >= MIN_GIT_VERSION[1]);
}

export type GitVersionRunner = () => Promise<string>;

/** In the environment every real git run gets (env.ts), so the git that is checked is the git that runs. */
export function gitVersionRunner(env: NodeJS.ProcessEnv = gitEnv({ allowHttp: false })): GitVersionRunner {
  return () =>
    new Promise((resolve, reject) => {
      execFile('git', ['--version'], { env, timeout: 10_000 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
}

export async function checkGitVersion(run: GitVersionRunner = gitVersionRunner()): Promise<void> {
  let output: string;
  try {
    output = await run();
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new FerryError('GIT_FAILED', missing ? 'git is not installed on this worker (or not on its PATH).' : `git does not run on this worker: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const version = parseGitVersion(output);
  if (!version || !isSupportedGit(version)) {
    const which = output.trim() || 'an unknown version';
    throw new TooOldGit('GIT_FAILED', `This worker's git (${which}) is older than ${MIN_GIT_VERSION.join('.')}, which ferry needs for its safety settings. Install a newer git.`);
  }
}

class TooOldGit extends FerryError {}

// A pass or a too-old git is remembered; any other failure (a resource limit, a timeout) is checked again.
export function supportedGitVerdict(run: GitVersionRunner = gitVersionRunner()): () => Promise<void> {
  let verdict: Promise<void> | undefined;
  return () => {
    verdict ??= checkGitVersion(run).catch((error: unknown) => {
      if (!(error instanceof TooOldGit)) verdict = undefined;
      throw error;
    });
    return verdict;
  };
}
