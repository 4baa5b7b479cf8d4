import type { ChildProcess } from 'node:child_process';
import { gitFailure } from './errors.js';

const KILL_GRACE_MS = 2000;

/** TERM to the child's process group (it was spawned detached), KILL after a grace period. */
export function killGroup(child: ChildProcess): void {
  const signal = (name: NodeJS.Signals): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, name);
    } catch {
      child.kill(name);
    }
  };
  signal('SIGTERM');
  setTimeout(() => signal('SIGKILL'), KILL_GRACE_MS).unref();
}

export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export function exited(child: ChildProcess, what: string): Promise<void> {
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
