// What the CLI tests check a run against: the archive git itself would make, and the phases seen.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { gitEnv } from '../helpers/fixtures.js';

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** sha256 of `git archive` run on the fixture itself: what the worker's archive must equal byte for byte. */
export async function gitArchiveSha(repoDir: string, commit: string, format: 'zip' | 'tar.gz', prefix: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const hash = createHash('sha256');
    const child = execFile('git', ['-C', repoDir, 'archive', `--format=${format}`, `--prefix=${prefix}/`, commit], { env: gitEnv(), encoding: 'buffer', maxBuffer: 256 * 1024 * 1024 }, (error, stdout) => {
      if (error) return reject(error);
      resolvePromise(hash.update(stdout).digest('hex'));
    });
    child.stdin?.end();
  });
}

/** The phases in the order they first appear among the progress events. */
export function phaseSequence(events: Record<string, unknown>[]): string[] {
  const phases: string[] = [];
  for (const event of events) {
    if (event.type === 'progress' && phases[phases.length - 1] !== event.phase) phases.push(String(event.phase));
  }
  return phases;
}
