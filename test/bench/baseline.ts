// The native baseline: what a person would type on the same machine, through the same git server.
//   git clone --bare --depth 1 <url> dir && git -C dir archive --format=<f> --prefix=<p>/ -o file HEAD
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gitEnv } from '../helpers/fixtures.js';
import { now } from './measure.js';

export interface BaselineRun {
  ms: number;
  cloneMs: number;
  archiveMs: number;
  /** user + system of both git commands and their children. */
  cpuMs: number;
  size: number;
}

export async function runBaseline(repoUrl: string, format: string): Promise<BaselineRun> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-native-'));
  try {
    const gitDir = join(dir, 'repo.git');
    const file = join(dir, `out.${format}`);
    const start = now();
    const clone = await timed(['clone', '--quiet', '--bare', '--depth', '1', '--', repoUrl, gitDir]);
    const cloned = now();
    const archive = await timed(['-C', gitDir, 'archive', `--format=${format}`, '--prefix=big/', '-o', file, 'HEAD']);
    const end = now();
    return { ms: end - start, cloneMs: cloned - start, archiveMs: end - cloned, cpuMs: clone + archive, size: (await stat(file)).size };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs `git <args>` under bash and returns the CPU time of git and its children, read from bash's
 * `times` builtin (node cannot see a child's rusage). Costs one bash start (~2 ms) per command.
 */
function timed(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', 'git "$@" || exit $?; times', 'bash', ...args], {
      env: gitEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`git ${args.join(' ')} failed (${code}): ${err}`));
      // `times` prints the shell's user/sys, then its children's: "0m0.220s 0m0.190s".
      const children = out.trim().split('\n').at(-1) ?? '';
      const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      resolve(seconds.reduce((a, b) => a + b, 0) * 1000);
    });
  });
}
