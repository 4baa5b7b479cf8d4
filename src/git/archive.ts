import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { gitEnv } from './env.js';
import { gitFailure } from './errors.js';

export type ArchiveFormat = 'zip' | 'tar.gz';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['zip', 'tar.gz'];

export interface ArchiveStream {
  stdout: Readable;
  /** Settles when git (and the coalescer) exit: rejects with a FerryError on failure. */
  done: Promise<void>;
  kill(): void;
}

/**
 * `git archive` straight from the bare mirror's object database: no checkout, no temp files.
 *
 * git's zip writer issues a write per header and per small file (~35k writes of ~650 bytes for a
 * 15k-file repository), and node pays for every one it reads (~0.3 s of CPU for 23 MB). Its stdout
 * is therefore handed, as a file descriptor and without a shell, to `dd`, which re-blocks it: node
 * then reads full 64 KiB pipe buffers (~400 reads) for ~0.04 s of CPU. Measured in docs/benchmarks.md.
 * `ibs` ≠ `obs` is POSIX dd's accumulate mode (GNU and BSD alike); where there is no dd at all (a
 * client on Windows running the embedded stack), git's stdout is read directly.
 */
export function archiveStream(gitDir: string, commit: string, format: ArchiveFormat, prefix: string): ArchiveStream {
  const git = spawn('git', ['archive', `--format=${format}`, `--prefix=${prefix}/`, commit], {
    cwd: gitDir,
    env: { ...gitEnv({ allowHttp: false }), GIT_DIR: gitDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (!hasDd()) {
    const done = exited(git, 'Archiving');
    done.catch(() => undefined);
    return { stdout: git.stdout, done, kill: () => git.kill('SIGKILL') };
  }
  const dd = spawn('dd', ['ibs=64k', 'obs=1M'], { stdio: [git.stdout, 'pipe', 'pipe'] });
  // dd owns the read end now; closing ours lets git see EPIPE if dd dies.
  git.stdout.destroy();
  const done = Promise.all([exited(git, 'Archiving'), exited(dd, 'Re-blocking the archive')]).then(() => undefined);
  // Marked handled now: when the reader stops early (size limit, failed upload) the processes die of
  // SIGPIPE before anyone awaits `done`, and that rejection must not count as unhandled.
  done.catch(() => undefined);
  return {
    stdout: dd.stdout,
    done,
    kill: () => {
      git.kill('SIGKILL');
      dd.kill('SIGKILL');
    },
  };
}

let ddAvailable: boolean | undefined;

function hasDd(): boolean {
  ddAvailable ??= spawnSync('dd', ['if=/dev/null', 'of=/dev/null'], { stdio: 'ignore' }).status === 0;
  return ddAvailable;
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
