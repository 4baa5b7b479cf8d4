import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { gitEnv } from './env.js';
import { gitFailure } from './errors.js';

export type ArchiveFormat = 'zip' | 'tar.gz';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['zip', 'tar.gz'];

export interface ArchiveStream {
  stdout: Readable;
  /** Settles when git (and the re-blocker) exit: rejects with a FerryError on failure. */
  done: Promise<void>;
  kill(): void;
}

export interface ArchiveOptions {
  /** `direct` reads git's stdout itself; the default re-blocks it when bash and dd are there. */
  transport?: 'reblocked' | 'direct';
}

/**
 * `git archive` straight from the bare mirror's object database: no checkout, no temp files.
 *
 * git's zip writer issues a write per header and per small file (~35k writes of ~650 bytes for a
 * 15k-file repository), and node pays for every one it reads (~0.4 s of CPU for 23 MB). So git writes
 * into a real pipe read by `dd`, which re-blocks: node then reads ~400 full buffers (~0.1 s). A real
 * pipe, not node's stdio (a unix socket), because each small write into a socket costs git a buffer
 * allocation and a wake-up: measured 0.1 s less system time and ~80 ms less wall time for 23 MB.
 * bash makes the pipe: the values reach it as positional parameters, never as script text, and
 * `pipefail` keeps git's exit status. Without bash or dd (the embedded stack on Windows), git's stdout
 * is read directly. Figures in docs/benchmarks.md.
 */
export function archiveStream(gitDir: string, commit: string, format: ArchiveFormat, prefix: string, options: ArchiveOptions = {}): ArchiveStream {
  const args = ['archive', `--format=${format}`, `--prefix=${prefix}/`, commit];
  const env = { ...gitEnv({ allowHttp: false }), GIT_DIR: gitDir };
  if (options.transport === 'direct' || !canReblock()) {
    const git = spawn('git', args, { cwd: gitDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return { stdout: git.stdout, done: handled(exited(git, 'Archiving')), kill: () => git.kill('SIGKILL') };
  }
  // `obs` ≠ `ibs` is POSIX dd's accumulate mode (GNU and BSD alike). dd's own report is dropped, so
  // the stderr that reaches us is git's.
  const script = 'set -o pipefail; git "$@" | dd ibs=64k obs=1M 2>/dev/null';
  const shell = spawn('bash', ['-c', script, 'ferry-archive', ...args], {
    cwd: gitDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so one kill reaches bash, git and dd alike.
    detached: true,
  });
  return {
    stdout: shell.stdout,
    // When the reader stops early (size limit, failed upload) the processes die of SIGPIPE or SIGKILL
    // before anyone awaits `done`, and that rejection must not count as unhandled.
    done: handled(exited(shell, 'Archiving')),
    kill: () => killGroup(shell),
  };
}

let reblockAvailable: boolean | undefined;

/** Checked once per process: bash with pipefail, and a dd that understands ibs/obs. */
export function canReblock(): boolean {
  reblockAvailable ??= spawnSync('bash', ['-c', 'set -o pipefail; dd if=/dev/null of=/dev/null ibs=64k obs=1M 2>/dev/null'], { stdio: 'ignore' }).status === 0;
  return reblockAvailable;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

function exited(child: ChildProcess, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  return new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(gitFailure(error.message, what, error)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(gitFailure(stderr || `exit ${code ?? signal}`, what));
    });
  });
}
