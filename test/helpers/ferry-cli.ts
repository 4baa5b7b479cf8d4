// Runs the built CLI (`node bin/ferry.js`) as a child process, as a user or the benchmark would.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './worker-process.js';

export interface FerryRun {
  /** The exit code; 1 when the run was killed (timeout) rather than exiting. */
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (with --json). */
  events: Record<string, unknown>[];
}

/**
 * `ferry <args>`, resolving (never rejecting) once it exits. The user's FERRY_GATEWAY and app keys
 * are blanked so only `args` and `options.env` decide where it connects.
 */
export function runFerry(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<FerryRun> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin/ferry.js'), ...args],
      {
        cwd: options.cwd ?? ROOT,
        env: { ...process.env, FERRY_GATEWAY: '', FERRY_APP_KEY: '', FERRY_APP_SECRET: '', ...options.env },
        timeout: options.timeoutMs ?? 90_000,
        maxBuffer: 16 * 1024 * 1024,
      },
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
