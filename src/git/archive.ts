import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { gitEnv } from './env.js';
import { gitFailure } from './errors.js';

export type ArchiveFormat = 'zip' | 'tar.gz';
export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['zip', 'tar.gz'];

export interface ArchiveStream {
  stdout: Readable;
  /** Settles when git exits: rejects with a FerryError on failure. */
  done: Promise<void>;
  kill(): void;
}

/**
 * `git archive` straight from the bare mirror's object database: no checkout, no temp files.
 * The caller consumes `stdout` and must await `done`.
 */
export function archiveStream(gitDir: string, commit: string, format: ArchiveFormat, prefix: string): ArchiveStream {
  const child = spawn('git', ['archive', `--format=${format}`, `--prefix=${prefix}/`, commit], {
    cwd: gitDir,
    env: { ...gitEnv({ allowHttp: false }), GIT_DIR: gitDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 4096) stderr += chunk;
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(gitFailure(error.message, 'Archiving', error)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(gitFailure(stderr || `exit ${code ?? signal}`, 'Archiving'));
    });
  });
  // Marked handled now: when the reader stops early (size limit, failed upload) git dies of SIGPIPE
  // before anyone awaits `done`, and that rejection must not count as unhandled.
  done.catch(() => undefined);
  return { stdout: child.stdout, done, kill: () => child.kill('SIGKILL') };
}
