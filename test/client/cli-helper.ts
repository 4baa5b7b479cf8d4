// Runs the built CLI (`node bin/ferry.js`) as a child process, as a user or the benchmark would.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitEnv } from '../helpers/fixtures.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface FerryRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (with --json). */
  events: Record<string, unknown>[];
}

export function runFerry(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<FerryRun> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [join(repoRoot, 'bin/ferry.js'), ...args],
      { cwd: options.cwd ?? repoRoot, env: { ...process.env, FERRY_GATEWAY: '', FERRY_APP_KEY: '', FERRY_APP_SECRET: '', ...options.env }, timeout: options.timeoutMs ?? 90_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const events = stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        resolvePromise({ code, stdout, stderr, events });
      },
    );
  });
}

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
