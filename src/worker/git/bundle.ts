import { spawn } from 'node:child_process';
import type { ArchiveStream } from './archive.js';
import { exited, handled, killGroup } from './child.js';
import { gitEnv } from './env.js';

export interface BundleContent {
  /** Full ref names the bundle lists (`refs/heads/main`); their objects are what it carries. */
  refs: readonly string[];
  /** Objects the receiver has: the bundle leaves out everything they reach and names them as prerequisites. */
  exclude: readonly string[];
}

/** git found nothing to send: every ref is reachable from the excluded objects. */
export class EmptyBundleError extends Error {
  override readonly name = 'EmptyBundleError';
}

// `git bundle create -` streams the bundle on stdout, straight from the mirror's packs. The revisions go
// on stdin: a repository can have more refs than a command line holds.
export function bundleStream(gitDir: string, content: BundleContent, options: { env?: NodeJS.ProcessEnv } = {}): ArchiveStream {
  const env = { ...(options.env ?? gitEnv({ allowHttp: false })), GIT_DIR: gitDir };
  const git = spawn('git', ['bundle', 'create', '-q', '-', '--stdin'], { cwd: gitDir, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  // git stops reading stdin if it fails early; the error is in its exit, not in this write.
  git.stdin.on('error', () => undefined);
  git.stdin.end(`${[...content.refs, ...content.exclude.map((oid) => `^${oid}`)].join('\n')}\n`);
  const done = exited(git, 'Bundling').catch((error: Error) => {
    throw /refusing to create empty bundle/i.test(error.message) ? new EmptyBundleError('nothing to bundle', { cause: error }) : error;
  });
  return { stdout: git.stdout, pid: git.pid, done: handled(done), kill: () => killGroup(git) };
}
