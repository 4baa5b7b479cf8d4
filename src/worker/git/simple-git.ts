import { simpleGit, type SimpleGit, type SimpleGitOptions } from 'simple-git';
import type { GitContext } from './context.js';
import { withConfig } from './env.js';
import type { Pin } from '../net/destinations.js';
import type { RepoAccess } from './access.js';

export interface GitClientOptions {
  git: GitContext;
  baseDir?: string;
  signal?: AbortSignal | undefined;
  progress?: SimpleGitOptions['progress'];
  /** The checked addresses of the one upstream this command talks to (net/destinations.ts): curl connects to those only. */
  pin?: Pin | undefined;
  /** A private repository's token: git gets it as an `http.extraHeader` in its environment, never in argv. */
  access?: RepoAccess | undefined;
}

// simple-git refuses env that sets config paths, GIT_CONFIG_COUNT, askpass, credential helpers or
// protocol rules, as *user* data there is dangerous; ours closes doors (env.ts), so those guards are
// lifted. The guard against --upload-pack / --receive-pack stays on.
export function gitClient(options: GitClientOptions): SimpleGit {
  return simpleGit({
    baseDir: options.baseDir,
    timeout: options.git.timeoutMs ? { block: options.git.timeoutMs } : undefined,
    abort: options.signal,
    progress: options.progress,
    unsafe: {
      allowUnsafeConfigPaths: true,
      allowUnsafeConfigEnvCount: true,
      allowUnsafeAskPass: true,
      allowUnsafeCredentialHelper: true,
      allowUnsafeProtocolOverride: true,
    },
  } as Partial<SimpleGitOptions>).env(gitCommandEnv(options));
}

/** The environment one git command runs with: the context's, pinned, with the request's token header. */
export function gitCommandEnv(options: Pick<GitClientOptions, 'git' | 'pin' | 'access'>): NodeJS.ProcessEnv {
  const env = pinnedEnv(options.git.env, options.pin);
  return options.access ? withConfig(env, options.access.gitConfig()) : env;
}

/** git's environment plus `http.curloptResolve`, so curl's own DNS lookup never runs for the pinned host. */
export function pinnedEnv(env: NodeJS.ProcessEnv, pin: Pin | undefined): NodeJS.ProcessEnv {
  return pin?.curlResolve ? withConfig(env, [['http.curloptResolve', pin.curlResolve]]) : env;
}
