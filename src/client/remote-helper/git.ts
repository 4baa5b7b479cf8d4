// The helper's git commands run in the repository git started it for: git exports GIT_DIR to its helpers,
// and the inherited environment carries it (and any GIT_OBJECT_DIRECTORY) to every child.
import { execFile } from 'node:child_process';
import { FerryError } from '../../protocol/errors.js';

export interface GitOptions {
  /** Written to git's stdin. */
  input?: string;
  /** Default 10 minutes: long enough for a large local command, short of hanging forever. */
  timeoutMs?: number;
  /** Default: the process's (the repository git started the helper in). */
  cwd?: string | undefined;
}

/** `git <args>`; its stdout, or GIT_FAILED carrying git's own complaint. */
export function runGit(args: string[], options: GitOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 600_000, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve(stdout);
        const why = stderr.trim().split('\n').at(-1) || error.message;
        reject(new FerryError('GIT_FAILED', `git ${args[0] ?? ''} failed: ${why}`, { cause: error }));
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Which of `oids` the repository lacks (one `cat-file --batch-check` for all of them). */
export async function missingObjects(oids: readonly string[]): Promise<string[]> {
  if (oids.length === 0) return [];
  const out = await runGit(['cat-file', '--batch-check=%(objectname)'], { input: `${oids.join('\n')}\n` });
  // A missing object answers `<oid> missing`; a present one its name alone.
  return out.split('\n').filter((line) => line.endsWith(' missing')).map((line) => line.split(' ')[0] as string);
}
