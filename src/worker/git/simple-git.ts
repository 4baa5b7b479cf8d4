import { simpleGit, type SimpleGit, type SimpleGitOptions } from 'simple-git';
import type { GitContext } from './context.js';

export interface GitClientOptions {
  git: GitContext;
  baseDir?: string;
  signal?: AbortSignal | undefined;
  progress?: SimpleGitOptions['progress'];
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
  } as Partial<SimpleGitOptions>).env(options.git.env);
}
