// A child process that says when it is ready: started, watched until a line of its output matches,
// and stopped for sure (SIGKILL after a grace period) however it behaves.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface StartProcessOptions {
  command: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Matched against each line of stdout and stderr; the first match means the process is ready. */
  ready: RegExp;
  /** What to call it in errors. Default: the command. */
  name?: string;
  /** Default 15 000. */
  timeoutMs?: number;
}

export interface StartedProcess {
  child: ChildProcess;
  /** Every line printed so far, stdout and stderr interleaved. */
  output: string[];
  /** The `ready` match, with its capture groups. */
  ready: RegExpExecArray;
  /** Sends `signal`, then SIGKILL if the process is still there after `graceMs`; resolves once it exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export async function startProcess(options: StartProcessOptions): Promise<StartedProcess> {
  const name = options.name ?? options.command;
  const child = spawn(options.command, options.args ?? [], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const output: string[] = [];
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.kill(signal);
    await exited;
    clearTimeout(timer);
  };
  try {
    const ready = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${options.timeoutMs ?? 15_000} ms:\n${output.join('\n')}`)), options.timeoutMs ?? 15_000);
      const onLine = (line: string): void => {
        output.push(line);
        const match = options.ready.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match);
        }
      };
      createInterface({ input: child.stdout! }).on('line', onLine);
      createInterface({ input: child.stderr! }).on('line', onLine);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`${name} could not be started: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited with ${code ?? signal}:\n${output.join('\n')}`));
      });
    });
    return { child, output, ready, stop };
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
}
