import { spawn, spawnSync } from 'node:child_process';
import { exited, handled, killGroup } from './child.js';
import type { Readable } from 'node:stream';
import { gitEnv } from './env.js';
import type { ArchiveFormat } from '../../protocol/formats.js';

export { ARCHIVE_FORMATS, type ArchiveFormat } from '../../protocol/formats.js';

export interface ArchiveStream {
  stdout: Readable;
  pid: number | undefined;
  done: Promise<void>;
  kill(): void;
}

export interface ArchiveOptions {
  /** How git's output reaches node; detected now without one. */
  transport?: Transport;
  env?: NodeJS.ProcessEnv;
}

export type Transport = 'lazy' | 'dd' | 'direct';

// Grows the pipe to 1 MiB (F_SETPIPE_SZ) and reads every 4 ms while the writer is slow. Where the pipe
// cannot grow, a 4 ms pause would stall git on a full 64 KiB pipe, so it becomes dd instead.
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

// git's zip writer issues a write per small file, each a wake-up for a reader on node's stdio socket: so
// git writes into a real pipe (values reach bash as positional parameters) whose reader re-blocks.
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
