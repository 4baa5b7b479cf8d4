// Fixture repositories (built once by test/fixtures/*.sh into test/.fixtures/) and small git helpers
// that run the real git with no shell and no user configuration.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const testDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Where the fixture scripts build; gitignored. */
const fixturesDir = path.join(testDir, '.fixtures');

let fixtures: Promise<string> | undefined;
let bench: Promise<string> | undefined;
let faults: Promise<string> | undefined;

/**
 * Builds the test repositories once (across vitest workers) and returns the root holding
 * `fixtures/basic.git`, `fixtures/empty.git` and `fixtures/many.git`.
 */
export function fixtureRoot(): Promise<string> {
  fixtures ??= runScript('make-repos.sh');
  return fixtures;
}

let load: Promise<string> | undefined;

/** Builds the 20 repositories of `npm run bench:load` once and returns the root holding `load/repo-01.git` … `repo-20.git`. */
export function loadRoot(): Promise<string> {
  load ??= runScript('make-load-repos.sh');
  return load;
}

/** Builds the benchmark repository once and returns the root holding `bench/big.git`. */
export function benchRoot(): Promise<string> {
  bench ??= runScript('make-bench-repo.sh');
  return bench;
}

/** Builds the fault tests' repository once and returns the root holding `faults/pack.git` (a pack of ~3 MiB). */
export function faultRoot(): Promise<string> {
  faults ??= runScript('make-fault-repo.sh');
  return faults;
}

async function runScript(name: string): Promise<string> {
  await mkdir(fixturesDir, { recursive: true });
  // The scripts exit at once when their marker exists but do not lock: this lock serialises vitest
  // workers (and the bench), so none sees a half-swapped tree or has its build cleared as stale.
  await withLock(path.join(fixturesDir, `.lock-${name}.d`), () =>
    execFileAsync('bash', [path.join(testDir, 'fixtures', name), fixturesDir], {
      env: gitEnv(),
      timeout: 5 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    }),
  );
  return fixturesDir;
}

async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  const pidFile = path.join(lockDir, 'pid');
  for (;;) {
    try {
      await mkdir(lockDir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(lockDir, pidFile)) await rm(lockDir, { recursive: true, force: true });
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    await writeFile(pidFile, String(process.pid));
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** A lock is stale when its holder died, or when it never wrote its pid within 30 s. */
async function isStale(lockDir: string, pidFile: string): Promise<boolean> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => ''));
  if (pid > 0) {
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  }
  const info = await stat(lockDir).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > 30_000;
}

/** The environment for running git in tests: no user or system config, no prompts, no proxies. */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
  };
  for (const name of ['http_proxy', 'https_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']) {
    delete env[name];
  }
  return { ...env, ...extra };
}

/** Runs `git <args>` (no shell) and resolves with stdout; rejects with git's stderr in the message. */
export async function git(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await execFileAsync('git', args, {
    cwd: options.cwd,
    env: gitEnv(options.env),
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** `git rev-parse --verify <rev>` in a bare or non-bare repository; append `^{commit}` to peel a tag. */
export async function gitRevParse(repoDir: string, rev: string): Promise<string> {
  return (await git(['-C', repoDir, 'rev-parse', '--verify', '--end-of-options', rev])).trim();
}

export interface TreeFile {
  path: string;
  /** 100644 regular, 100755 executable, 120000 symlink (content = link target). */
  mode: '100644' | '100755' | '120000';
  size: number;
  sha256: string;
}

/**
 * The files `git archive <commit>` would contain, in ls-tree order, with the sha256 of each blob:
 * what an extracted archive must match. Submodule entries (gitlinks) are left out.
 */
export async function gitArchiveFiles(repoDir: string, commit: string): Promise<TreeFile[]> {
  const listing = await git(['-C', repoDir, 'ls-tree', '-r', '-l', '-z', '--full-tree', '--end-of-options', commit]);
  const entries: { path: string; mode: TreeFile['mode']; oid: string; size: number }[] = [];
  for (const record of listing.split('\0')) {
    if (record === '') continue;
    const tab = record.indexOf('\t');
    const [mode, type, oid, size] = record.slice(0, tab).split(/ +/);
    if (type !== 'blob' || oid === undefined) continue;
    if (mode !== '100644' && mode !== '100755' && mode !== '120000') throw new Error(`unexpected mode ${mode} in ${record}`);
    entries.push({ path: record.slice(tab + 1), mode, oid, size: Number(size) });
  }
  const hashes = await hashBlobs(repoDir, [...new Set(entries.map((e) => e.oid))]);
  return entries.map(({ path: p, mode, oid, size }) => ({ path: p, mode, size, sha256: hashes.get(oid) ?? '' }));
}

/** sha256 of each blob's content, read in one `git cat-file --batch` run. */
async function hashBlobs(repoDir: string, oids: string[]): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  if (oids.length === 0) return hashes;
  const output = await new Promise<Buffer>((resolve, reject) => {
    const child = execFile(
      'git',
      ['-C', repoDir, 'cat-file', '--batch'],
      { env: gitEnv(), encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024, timeout: 120_000 },
      (error, stdout) => (error ? reject(error) : resolve(stdout)),
    );
    child.stdin?.end(oids.join('\n') + '\n');
  });
  // Each object is "<oid> <type> <size>\n<content>\n".
  let offset = 0;
  while (offset < output.length) {
    const newline = output.indexOf(0x0a, offset);
    const [oid, type, size] = output.subarray(offset, newline).toString('latin1').split(' ');
    if (oid === undefined || type !== 'blob') throw new Error(`git cat-file: unexpected ${output.subarray(offset, newline).toString()}`);
    const start = newline + 1;
    const end = start + Number(size);
    hashes.set(oid, createHash('sha256').update(output.subarray(start, end)).digest('hex'));
    offset = end + 1;
  }
  return hashes;
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
