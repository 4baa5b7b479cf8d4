// The git side of the clone benchmark: the long-history fixture, timed git commands (native or through
// `git-remote-ferry`), and an upstream that moves on by a number of commits, as a pull would meet it.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { git, gitEnv } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/worker-process.js';
import { now } from './measure.js';

const execFileAsync = promisify(execFile);
const GIT_TIMEOUT_MS = 5 * 60_000;

/**
 * Builds test/.fixtures/history/long.git once (about 30 s; make-history-repo.sh exits at once when it
 * exists) and returns the fixtures root. Only the bench builds it, so no lock as test/helpers/fixtures.ts
 * takes for the test suite's fixtures.
 */
export async function historyRoot(log: (line: string) => void): Promise<string> {
  const root = join(ROOT, 'test/.fixtures');
  const { stderr } = await execFileAsync('bash', [join(ROOT, 'test/fixtures/make-history-repo.sh'), root], { env: gitEnv(), timeout: GIT_TIMEOUT_MS });
  for (const line of stderr.split('\n').filter(Boolean)) log(line);
  return root;
}

/** `git <args>`, timed from spawn to exit; rejects with git's stderr. */
export function timedGit(args: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = now();
    const child = spawn('git', args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), GIT_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const ms = now() - start;
      clearTimeout(timer);
      if (code === 0) resolve(ms);
      else reject(new Error(`git ${args.join(' ')} failed (${signal ?? code}): ${stderr.trim() || '(no output)'}`));
    });
  });
}

export interface Checkout {
  head: string;
  remoteBranches: number;
  tags: number;
}

/** What a clone ended up with: HEAD's commit and how many remote branches and tags. */
export async function describeCheckout(dir: string): Promise<Checkout> {
  const refs = (await git(['-C', dir, 'for-each-ref', '--format=%(refname)', 'refs/remotes/origin/', 'refs/tags/'])).split('\n').filter(Boolean);
  return {
    head: (await git(['-C', dir, 'rev-parse', 'HEAD'])).trim(),
    remoteBranches: refs.filter((r) => r.startsWith('refs/remotes/origin/') && r !== 'refs/remotes/origin/HEAD').length,
    tags: refs.filter((r) => r.startsWith('refs/tags/')).length,
  };
}

/** The same for the bare upstream: main's commit, its branches and tags. */
export async function describeUpstream(gitDir: string): Promise<Checkout> {
  const refs = (await git(['--git-dir', gitDir, 'for-each-ref', '--format=%(refname)', 'refs/heads/', 'refs/tags/'])).split('\n').filter(Boolean);
  return {
    head: (await git(['--git-dir', gitDir, 'rev-parse', 'HEAD'])).trim(),
    remoteBranches: refs.filter((r) => r.startsWith('refs/heads/')).length,
    tags: refs.filter((r) => r.startsWith('refs/tags/')).length,
  };
}

/**
 * A folder to put first on PATH so that git finds `git-remote-ferry` for `ferry::` URLs, or undefined
 * when this checkout has no remote helper yet. npm installs `bin/git-remote-ferry.js` under the name
 * git looks for; here a symlink does the same.
 */
export async function remoteHelperDir(): Promise<string | undefined> {
  if (existsSync(join(ROOT, 'bin/git-remote-ferry'))) return join(ROOT, 'bin');
  const script = join(ROOT, 'bin/git-remote-ferry.js');
  if (!existsSync(script)) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-helper-'));
  await symlink(script, join(dir, 'git-remote-ferry'));
  return dir;
}

/** Same file layout as make-history-repo.sh: packages/pkg-<p>/mod-<m>/file-<f>.<ext>. */
const EXTS = ['ts', 'js', 'md', 'json', 'go', 'py', 'c', 'h', 'txt', 'yml'];
const FIXTURE_END = 1546300800 + 20_000 * 3000;

/**
 * Adds `count` commits on main to the bare repository `gitDir` through git fast-import: each rewrites
 * two source files (~2 KB each) and appends to a changelog, as ordinary development would. `round`
 * makes each call's commits (and dates) differ from the last's.
 */
export async function advanceUpstream(gitDir: string, count: number, round: number): Promise<void> {
  let seed = (round + 1) * 7919;
  const rand = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
  const int = (n: number): number => Math.floor(rand() * n);
  const chunks: string[] = [];
  const data = (text: string): void => void chunks.push(`data ${Buffer.byteLength(text)}\n${text}\n`);
  const changelog: string[] = [];
  for (let k = 0; k < count; k++) {
    const date = FIXTURE_END + (round * count + k + 1) * 600;
    chunks.push(`commit refs/heads/main\nauthor Upstream Dev <dev@ferry.test> ${date} +0000\ncommitter Upstream Dev <dev@ferry.test> ${date} +0000\n`);
    data(`Upstream change ${round}.${k}\n`);
    if (k === 0) chunks.push('from refs/heads/main^0\n');
    for (let f = 0; f < 2; f++) {
      const [p, m, n] = [int(20), int(10), int(10)];
      const body = Array.from({ length: 40 + int(40) }, (_, i) => `  const value${i} = compute(${int(1000)}, '${round}.${k}');`).join('\n');
      chunks.push(`M 100644 inline packages/pkg-${p}/mod-${m}/file-${n}.${EXTS[(p + m + n) % EXTS.length]}\n`);
      data(`${body}\n`);
    }
    changelog.push(`- upstream change ${round}.${k}\n`);
    chunks.push(`M 100644 inline CHANGELOG-upstream.md\n`);
    data(changelog.join(''));
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('git', ['--git-dir', gitDir, 'fast-import', '--quiet'], { env: gitEnv(), stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import failed (${code}): ${stderr}`))));
    child.stdin.end(chunks.join(''));
  });
}
