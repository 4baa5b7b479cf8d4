import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { gitEnv } from './env.js';
import { gitFailure } from './errors.js';
import type { ArchiveFormat } from '../../protocol/formats.js';

export { ARCHIVE_FORMATS, type ArchiveFormat } from '../../protocol/formats.js';

export interface ArchiveStream {
  stdout: Readable;
  /** The process started (with a re-blocker: the process group's leader), for diagnostics and tests. */
  pid: number | undefined;
  /** Settles when git (and the re-blocker) exit: rejects with a FerryError on failure. */
  done: Promise<void>;
  kill(): void;
}

export interface ArchiveOptions {
  /** How git's output reaches node (the git context's, detected once); without one it is detected now. */
  transport?: Transport;
  /** The environment git runs with (the git context's); defaults to env.ts's from this process's. */
  env?: NodeJS.ProcessEnv;
}

export type Transport = 'lazy' | 'dd' | 'direct';

/**
 * Re-blocks a pipe lazily: grows it to 1 MiB (F_SETPIPE_SZ, Linux) and, while the writer is slow,
 * reads only every 4 ms, so git's small writes pile up in the pipe without waking anyone. Where the
 * pipe cannot grow (other systems, a per-user pipe quota), a 4 ms pause would stall git on a full
 * 64 KiB pipe, so it becomes dd instead.
 */
const LAZY_REBLOCK = `
unless ($^O eq 'linux' && fcntl(STDIN, 1031, 1048576)) {
  open STDERR, '>', '/dev/null';
  exec 'dd', 'ibs=64k', 'obs=1M' or exit 127;
}
binmode STDIN; binmode STDOUT;
my $buf;
while (1) {
  my $n = sysread(STDIN, $buf, 1048576);
  defined $n or die "ferry-reblock: read: $!\n";
  last if $n == 0;
  for (my $off = 0; $off < $n;) {
    my $w = syswrite(STDOUT, $buf, $n - $off, $off);
    defined $w or die "ferry-reblock: write: $!\n";
    $off += $w;
  }
  select(undef, undef, undef, 0.004) if $n < 524288;
}`;

// dd's `obs` ≠ `ibs` is POSIX accumulate mode (GNU and BSD alike). Reports go to /dev/null, so the
// stderr that reaches us is git's. bash traps TERM with a no-op: a TERM sent to the group ends git and
// the re-blocker, and bash, still alive, reaps them before it exits (no orphans, no zombies).
const PIPELINES: Record<Exclude<Transport, 'direct'>, string> = {
  lazy: 'trap : TERM; set -o pipefail; reblock="$1"; shift; git "$@" | perl -e "$reblock"',
  dd: 'trap : TERM; set -o pipefail; shift; git "$@" | dd ibs=64k obs=1M 2>/dev/null',
};

/** After a TERM, how long the pipeline gets before it is killed outright. */
const KILL_GRACE_MS = 2000;

/**
 * `git archive` straight from the bare mirror's object database: no checkout, no temp files.
 *
 * git's zip writer issues a write per header and per small file. Read by node directly, through its
 * stdio socket, each write costs git a wake-up of the reader and node a read. So git writes into a real
 * pipe (bash makes it; the values reach bash as positional parameters, never as script text, and
 * `pipefail` keeps git's exit status) whose reader re-blocks: with a lazy reader (perl, part of every
 * Debian) git's writes cost about what writing a file does, and node reads few, full buffers. Without
 * perl, dd does it less well; without bash or dd (the embedded stack on Windows), node reads git. The
 * figures are in docs/benchmarks.md ("A real pipe, read lazily").
 */
export function archiveStream(gitDir: string, commit: string, format: ArchiveFormat, prefix: string, options: ArchiveOptions = {}): ArchiveStream {
  const args = ['archive', `--format=${format}`, `--prefix=${prefix}/`, commit];
  const env = { ...(options.env ?? gitEnv({ allowHttp: false })), GIT_DIR: gitDir };
  const transport = options.transport ?? reblocker();
  if (transport === 'direct') {
    const git = spawn('git', args, { cwd: gitDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return { stdout: git.stdout, pid: git.pid, done: handled(exited(git, 'Archiving')), kill: () => git.kill('SIGKILL') };
  }
  const shell = spawn('bash', ['-c', PIPELINES[transport], 'ferry-archive', LAZY_REBLOCK, ...args], {
    cwd: gitDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so one kill reaches bash, git and the re-blocker alike.
    detached: true,
  });
  return {
    stdout: shell.stdout,
    pid: shell.pid,
    // When the reader stops early (size limit, failed upload) the processes die of SIGPIPE or SIGKILL
    // before anyone awaits `done`, and that rejection must not count as unhandled.
    done: handled(exited(shell, 'Archiving')),
    kill: () => killGroup(shell),
  };
}

/** The best transport this machine has, probed on every call: the git context remembers the answer. */
export function reblocker(): Transport {
  // On Windows a `bash` on PATH may be WSL's, which cannot run this git on these paths.
  if (process.platform === 'win32') return 'direct';
  return works('perl -e 1') ? 'lazy' : works('dd if=/dev/null of=/dev/null ibs=64k obs=1M 2>/dev/null') ? 'dd' : 'direct';
}

function works(script: string): boolean {
  return spawnSync('bash', ['-c', `set -o pipefail; ${script}`], { stdio: 'ignore' }).status === 0;
}

/** TERM to the whole group (bash reaps git and the re-blocker), KILL if it is still there after a grace period. */
function killGroup(child: ChildProcess): void {
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
