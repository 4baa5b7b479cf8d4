import type { ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess } from './process.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface WorkerProcess {
  url: string;
  output: string[];
  child: ChildProcess;
  close(): Promise<void>;
}

/** Start the worker exactly as FC does, through ./bootstrap, on a free port (FC_SERVER_PORT=0). */
export async function startWorkerProcess(env: Record<string, string>): Promise<WorkerProcess> {
  const worker = await startProcess({
    command: join(ROOT, 'bootstrap'),
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FC_SERVER_PORT: '0', ...env },
    ready: /listening on 0\.0\.0\.0:(\d+)/,
    name: 'the worker',
  });
  return {
    url: `http://127.0.0.1:${worker.ready[1]}`,
    output: worker.output,
    child: worker.child,
    // Killed outright, as FC takes an instance down.
    close: () => worker.stop('SIGKILL'),
  };
}
