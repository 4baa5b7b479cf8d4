// git commands that talk to the upstream (fetch, clone, ls-remote), run in a process group of their own
// with a watchdog for silence: FERRY_STALL_TIMEOUT (or FERRY_GIT_TIMEOUT when shorter; the job's own
// timeout bounds the whole). A transfer prints progress (and the server its keep-alives) while bytes arrive, so a git that has
// printed nothing for that long waits on an upstream that stopped sending: its whole group (remote-curl,
// index-pack) is killed and the failure is marked transient, so the caller fetches again.
import { spawn } from 'node:child_process';
import { FerryError } from '../../protocol/errors.js';
import { markTransient } from '../upstream-retry.js';
import { killGroup } from './child.js';
import type { GitContext } from './context.js';
import { gitCommandEnv } from './simple-git.js';
import type { Pin } from '../net/destinations.js';
import type { RepoAccess } from './access.js';

export interface RunGitOptions {
  git: GitContext;
  cwd?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Each chunk of stderr as it comes (progress lines, a packet trace). */
  onStderr?: ((chunk: Buffer) => void) | undefined;
  /** Extra environment (e.g. GIT_TRACE_PACKET). */
  env?: NodeJS.ProcessEnv | undefined;
  /** Names the upstream in a stall's message. */
  host: string;
  /** The SSRF guard's checked addresses for this attempt: curl connects to those only (http.curloptResolve). */
  pin?: Pin | undefined;
  /** A private repository's token, as an http.extraHeader in git's environment (never in argv). */
  access?: RepoAccess | undefined;
}

export interface GitOutput {
  stdout: string;
  /** The last 16 KiB of stderr, packet-trace lines left out. */
  stderr: string;
}

/** git failed: its stderr is the message, as simple-git's errors carry it (callers classify it). */
export class GitCommandError extends Error {
  override readonly name = 'GitCommandError';
}

const STDERR_KEEP = 16 * 1024;
const TRACE_LINE = / packet: /;

export function runGit(args: readonly string[], options: RunGitOptions): Promise<GitOutput> {
  const { git, signal } = options;
  if (signal?.aborted) return Promise.reject(cancelled(signal));
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, { cwd: options.cwd, env: { ...gitCommandEnv({ git, pin: options.pin, access: options.access }), ...options.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    let stderr = '';
    let pendingLine = '';
    let failure: Error | undefined;
    const stop = (error: Error): void => {
      failure ??= error;
      killGroup(child);
    };
    let stallTimer: NodeJS.Timeout | undefined;
    const stallMs = Math.min(git.stallTimeoutMs, git.timeoutMs);
    const armStall = (): void => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        const seconds = Math.round(stallMs / 100) / 10;
        const error = new FerryError('UPSTREAM_UNREACHABLE', `${options.host} stopped sending for ${seconds} s part way through its answer (stalled). This is usually transient: try again.`);
        stop(markTransient(error, 'stalled'));
      }, stallMs);
    };
    const onAbort = (): void => stop(cancelled(signal));
    signal?.addEventListener('abort', onAbort, { once: true });
    armStall();

    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      armStall();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      armStall();
      options.onStderr?.(chunk);
      // Whole lines only, so a trace line split across chunks is still recognised and left out.
      const lines = (pendingLine + chunk.toString('utf8')).split('\n');
      pendingLine = lines.pop() ?? '';
      const kept = lines.filter((line) => !TRACE_LINE.test(line));
      if (kept.length > 0) stderr = (stderr + kept.join('\n') + '\n').slice(-STDERR_KEEP);
    });
    child.once('error', (error) => stop(error));
    child.once('close', (code, signalName) => {
      clearTimeout(stallTimer);
      signal?.removeEventListener('abort', onAbort);
      if (!TRACE_LINE.test(pendingLine)) stderr = (stderr + pendingLine).slice(-STDERR_KEEP);
      if (failure) return reject(failure);
      if (code === 0) return resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr });
      reject(new GitCommandError(stderr.trim() || `git ${args[0] ?? ''} exited with ${code ?? signalName}`));
    });
  });
}

function cancelled(signal: AbortSignal | undefined): FerryError {
  return new FerryError('TIMEOUT', 'The job was cancelled while git was talking to the upstream.', { cause: signal?.reason });
}
