import { simpleGit, type SimpleGit, type SimpleGitOptions } from 'simple-git';
import type { GitContext } from './context.js';

export interface GitClientOptions {
  git: GitContext;
  baseDir?: string;
  signal?: AbortSignal | undefined;
  progress?: SimpleGitOptions['progress'];
}

/**
 * simple-git with ferry's hardened environment. simple-git refuses env that sets config paths,
 * GIT_CONFIG_COUNT, askpass, credential helpers or protocol rules, because *user* data there is
 * dangerous; here those values are ours and they close doors (see env.ts), so exactly those guards
 * are lifted. The guard against --upload-pack / --receive-pack stays on.
 */
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
  } as Partial<SimpleGitOptions>).env(options.git.env);
}
