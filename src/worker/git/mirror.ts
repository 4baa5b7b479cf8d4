import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { SimpleGit } from 'simple-git';
import { KeyedLock } from '../../util/keyed-lock.js';
import { pathExists } from '../../util/path-exists.js';
import { FerryError } from '../../protocol/errors.js';
import { gitClient } from './simple-git.js';
import type { GitContext } from './context.js';
import { gitFailure } from './errors.js';
import { FetchBudget } from './fetch-budget.js';
import { progressLines, type GitProgressLine } from './fetch-progress.js';
import { pinRepo } from './pin.js';
import { runGit } from './run-git.js';
import { retryUpstream, type RetryNotice } from '../upstream-retry.js';
import type { RepoRef } from './url.js';
import type { Pin } from '../net/destinations.js';

/** One line of git's progress (fetch-progress.ts turns them into messages). */
export type FetchProgress = GitProgressLine;

export interface MirrorOptions {
  workDir: string;
  git: GitContext;
  /** Disk budget for all mirrors; least recently used ones not in use are removed beyond it. */
  maxBytes?: number | undefined;
  /** FERRY_MAX_FETCH_BYTES: what one fetch may receive before it is stopped with TOO_LARGE (fetch-budget.ts). */
  maxFetchBytes?: number | undefined;
  /** Runs before anything is fetched (the free-disk check); throwing refuses the fetch. */
  beforeFetch?: (() => Promise<void>) | undefined;
}

/** A mirror held for reading (`git archive`): it is not evicted until released. */
export interface MirrorLease {
  gitDir: string;
  release(): void;
}

/**
 * A full-history mirror held for reading, with its branches and tags as fetched (name → object id). No
 * other fetch touches it until release: what is read from it (a bundle of `refs`) is what `refs` says.
 */
export interface FullMirrorLease extends MirrorLease {
  refs: Map<string, string>;
  /** Created and fetched by this call, not seeded: its objects are exactly upstream's refs' (one pack). */
  fresh: boolean;
}

export interface FetchAllOptions {
  /** Fills a new, empty mirror before the upstream fetch (from cached bundles), so that fetch is small. */
  /** Resolves true when it put anything into the mirror. */
  seed?: ((gitDir: string) => Promise<boolean>) | undefined;
  onProgress?: ((p: FetchProgress) => void) | undefined;
  /** Told before a transient failure (a cut, a stall, a 5xx) is tried again with a fresh fetch. */
  onRetry?: ((notice: RetryNotice) => void) | undefined;
  signal?: AbortSignal | undefined;
}

// Every branch and tag, pruned: a full mirror is what `git clone --mirror` keeps, minus refs/pull/*.
const ALL_REFSPECS = ['+refs/heads/*:refs/heads/*', '+refs/tags/*:refs/tags/*'];

// Two bare mirrors per repository: a shallow one for archives (a later commit is one more `--depth 1`
// fetch into it, never a new clone) and, for bundles, a full-history one. Kept apart, so a shallow fetch
// never cuts the history a bundle needs and a full fetch never has to unshallow.
export class MirrorCache {
  readonly #options: MirrorOptions;
  // One git writer per mirror at a time: concurrent shallow fetches race on the `shallow` file.
  readonly #locks = new KeyedLock();
  /** Full mirrors held from their fetch to their lease's release (see fetchAll). */
  readonly #holds = new KeyedLock();
  readonly #leases = new Map<string, number>();
  #evicting: Promise<void> = Promise.resolve();

  constructor(options: MirrorOptions) {
    this.#options = options;
  }

  mirrorPath(repo: RepoRef): string {
    // A token's fetches get mirrors of their own (named by the token's scope, never the token): a private
    // repository's objects must not reach a request without that token through a shared mirror.
    const identity = repo.access ? `${repo.canonical}#${repo.access.scope}` : repo.canonical;
    const id = createHash('sha256').update(identity).digest('hex').slice(0, 24);
    return join(this.#options.workDir, 'mirrors', `${repo.name.slice(0, 40)}-${id}${repo.access ? '.t' : ''}.git`);
  }

  fullMirrorPath(repo: RepoRef): string {
    return this.mirrorPath(repo).replace(/\.git$/, '.full.git');
  }

  async fetch(
    repo: RepoRef,
    commit: string,
    onProgress?: (p: FetchProgress) => void,
    signal?: AbortSignal,
    onRetry?: (notice: RetryNotice) => void,
  ): Promise<MirrorLease> {
    return this.#leased(this.mirrorPath(repo), async (dir) => {
      await this.#fetchInto(dir, repo, commit, { onProgress, signal, onRetry });
      return {};
    });
  }

  /**
   * Every branch and tag of `repo` into its full mirror, seeding a new one first. The mirror is held until
   * the lease is released: a bundle names refs that git resolves when it packs, so a fetch by another job
   * in between (upstream rewound meanwhile) would make it carry other tips than the ones it is recorded with.
   */
  async fetchAll(repo: RepoRef, options: FetchAllOptions = {}): Promise<FullMirrorLease> {
    const dir = this.fullMirrorPath(repo);
    let unhold!: () => void;
    const held = new Promise<void>((resolve) => (unhold = resolve));
    const turn = new Promise<void>((resolve) => void this.#holds.run(dir, () => (resolve(), held)));
    try {
      await abortable(turn, options.signal);
      const lease = await this.#leased(dir, (path) => this.#fetchAllInto(path, repo, options));
      return {
        ...lease,
        release: () => {
          lease.release();
          unhold();
        },
      };
    } catch (error) {
      unhold(); // a turn not yet come ends as soon as it comes
      if (options.signal?.aborted) throw new FerryError('TIMEOUT', 'The job was cancelled while waiting for the mirror.', { cause: error });
      throw error;
    }
  }

  async #leased<T extends object>(dir: string, work: (dir: string) => Promise<T>): Promise<MirrorLease & T> {
    this.#leases.set(dir, (this.#leases.get(dir) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const count = (this.#leases.get(dir) ?? 1) - 1;
      if (count > 0) this.#leases.set(dir, count);
      else this.#leases.delete(dir);
      this.#scheduleEviction();
    };
    try {
      await this.#options.git.assertSupportedGit();
      const extra = await work(dir);
      // The mirror's mtime is its last use: eviction removes the least recently used first.
      const now = new Date();
      await utimes(dir, now, now).catch(() => undefined);
      return { ...extra, gitDir: dir, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  async #fetchInto(dir: string, repo: RepoRef, commit: string, options: FetchAllOptions): Promise<string> {
    const { signal } = options;
    return this.#locks.run(dir, async () => {
      const created = await this.#ensureBare(dir);
      if (!created && (await hasCommit(gitClient({ git: this.#options.git, baseDir: dir, signal }), commit))) return dir;
      const budget = new FetchBudget(this.#options.maxFetchBytes, `Fetching ${repo.canonical}`, signal);
      // One budget for all attempts: it aborts the attempt whose own progress passes the limit, and no more are made.
      const watched: FetchAllOptions = { ...options, onProgress: budget.watch(options.onProgress), signal: budget.signal };
      try {
        await this.#options.beforeFetch?.();
        await this.#retrying(repo, dir, watched, async (pin) => {
          try {
            await this.#fetchClearingStaleLock(dir, () =>
              this.#upstream(['fetch', '--depth=1', '--no-tags', '--progress', '--', repo.fetchUrl, `+${commit}:refs/ferry/${commit}`], repo, dir, watched, pin),
            );
          } catch (error) {
            const message = String((error as Error).message);
            if (!(error instanceof FerryError) && /not our ref|couldn't find remote ref|no such remote ref|unadvertised object/i.test(message)) {
              throw new FerryError('REF_NOT_FOUND', `Commit ${commit} does not exist in ${repo.canonical}.`, { cause: error });
            }
            throw fetchFailure(error, repo);
          }
        });
        budget.throwIfExceeded();
      } catch (error) {
        await this.#discard(dir, created || this.#soleHolder(dir, budget));
        if (budget.exceeded) throw budget.exceeded;
        if (error instanceof FerryError && !signal?.aborted) throw error; // the SSRF guard's or the disk check's refusal, as it is
        if (signal?.aborted) throw new FerryError('TIMEOUT', 'The job was cancelled while fetching.', { cause: error });
        throw error;
      }
      return dir;
    });
  }

  /**
   * A git command that talks to the upstream: its own process group, stall watchdog, progress from stderr;
   * curl connects only to the pinned addresses, and a private repository's token goes in git's environment.
   */
  #upstream(args: string[], repo: RepoRef, cwd: string, options: FetchAllOptions, pin: Pin): Promise<unknown> {
    const { onProgress, signal } = options;
    return runGit(args, { git: this.#options.git, cwd, signal, host: repo.host, pin, access: repo.access, onStderr: onProgress && progressLines(onProgress) });
  }

  /**
   * `attempt` again after a transient failure (a cut answer, a stall, a 5xx), each time a fresh fetch:
   * what a broken attempt left in the mirror (temporary packs) is removed first. Each attempt passes the
   * SSRF guard again (a name may resolve elsewhere by now) and connects only to the addresses it checked.
   */
  #retrying(repo: RepoRef, dir: string, options: FetchAllOptions, attempt: (pin: Pin) => Promise<void>): Promise<void> {
    return retryUpstream(
      async (n) => {
        if (n > 1) await removeTemporaryObjects(dir);
        await attempt(await pinRepo(repo, this.#options.git, `Fetching ${repo.canonical}`));
      },
      {
        policy: this.#options.git.retry,
        signal: options.signal,
        onRetry: (notice) => {
          this.#options.git.log?.(`mirror: ${repo.canonical}: ${notice.message}: ${String((notice.error as Error).message)}`);
          options.onRetry?.(notice);
        },
      },
    );
  }

  /**
   * A worker killed while git held a lock (e.g. `shallow.lock`) leaves it behind, and every later fetch
   * into this mirror would fail on it. The caller holds the mirror exclusively, so such a lock is stale.
   */
  async #fetchClearingStaleLock(dir: string, fetch: () => Promise<unknown>): Promise<void> {
    await fetch().catch(async (error: unknown) => {
      const lock = staleLock(String((error as Error).message), dir);
      if (!lock) throw error;
      this.#options.git.log?.(`mirror: removing stale lock ${lock}`);
      await rm(lock, { force: true });
      return fetch();
    });
  }

  async #fetchAllInto(dir: string, repo: RepoRef, options: FetchAllOptions): Promise<{ refs: Map<string, string>; fresh: boolean }> {
    return this.#locks.run(dir, async () => {
      await this.#options.beforeFetch?.();
      const created = await this.#ensureBare(dir);
      let seeded = false;
      if (created && options.seed) {
        // A seed that fails part way still leaves whole bundles' objects and refs: the fetch does the rest.
        seeded = await options.seed(dir).catch((error: unknown) => {
          this.#options.git.log?.(`mirror seed failed for ${repo.canonical}: ${String(error)}`);
          return true; // part of it may be in
        });
      }
      const { signal } = options;
      const budget = new FetchBudget(this.#options.maxFetchBytes, `Fetching ${repo.canonical}`, signal);
      const watched: FetchAllOptions = { ...options, onProgress: budget.watch(options.onProgress), signal: budget.signal };
      const git = gitClient({ git: this.#options.git, baseDir: dir, signal });
      try {
        await this.#retrying(repo, dir, watched, async (pin) => {
          try {
            if (created && !seeded) await this.#cloneInto(dir, repo, watched, pin);
            // Always a pack, even for a few objects: a new mirror is then one pack that can be served as a bundle as it is (pack-bundle.ts).
            else
              await this.#fetchClearingStaleLock(dir, () =>
                this.#upstream(['-c', 'fetch.unpackLimit=1', 'fetch', '--prune', '--no-tags', '--progress', '--', repo.fetchUrl, ...ALL_REFSPECS], repo, dir, watched, pin),
              );
          } catch (error) {
            throw fetchFailure(error, repo);
          }
        });
        budget.throwIfExceeded();
      } catch (error) {
        // A full mirror is held by this fetch alone (fetchAll), so one over the limit can always go whole.
        await this.#discard(dir, created || budget.exceeded !== undefined);
        if (budget.exceeded) throw budget.exceeded;
        if (error instanceof FerryError) throw error; // the SSRF guard's refusal, as it is
        if (signal?.aborted) throw new FerryError('TIMEOUT', 'The job was cancelled while fetching.', { cause: error });
        throw error;
      }
      const listed = await git.raw(['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads', 'refs/tags']);
      const refs = new Map<string, string>();
      for (const line of listed.split('\n')) {
        const space = line.indexOf(' ');
        if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
      }
      return { refs, fresh: created && !seeded };
    });
  }

  /**
   * A new, empty full mirror is made by `git clone --bare` rather than fetched into: the branches and tags
   * as the fetch would bring them, in one pack, and git skips walking the whole history to check it is
   * connected (a fetch does that walk; a clone knows the pack it just indexed is self-contained).
   */
  async #cloneInto(dir: string, repo: RepoRef, options: FetchAllOptions, pin: Pin): Promise<void> {
    const temp = `${dir}.clone-${process.pid}-${Date.now()}`;
    try {
      await this.#upstream(['clone', '--bare', '--progress', '--', repo.fetchUrl, temp], repo, dirname(dir), options, pin);
      await rm(dir, { recursive: true, force: true });
      await rename(temp, dir);
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  /**
   * After a failed fetch: a mirror this fetch created goes; an older one keeps its objects, but not the
   * temporary pack of an interrupted transfer (`objects/pack/tmp_pack_*`; the caller holds the mirror's lock).
   */
  async #discard(dir: string, created: boolean): Promise<void> {
    if (created) return rm(dir, { recursive: true, force: true });
    const packs = join(dir, 'objects', 'pack');
    const names = await readdir(packs).catch(() => [] as string[]);
    await Promise.all(names.filter((name) => name.startsWith('tmp_')).map((name) => rm(join(packs, name), { force: true })));
  }

  /**
   * A fetch over the limit may have ended before its abort landed: its objects must not serve the next job
   * (which would find the commit and skip the fetch), so the mirror goes whole unless another job reads it.
   */
  #soleHolder(dir: string, budget: FetchBudget): boolean {
    return budget.exceeded !== undefined && this.#leases.get(dir) === 1;
  }

  // A failed eviction only costs disk: logged, not thrown.
  #scheduleEviction(): void {
    if (this.#options.maxBytes === undefined) return;
    this.#evicting = this.#evicting.then(() => this.#evict(this.#options.maxBytes as number)).catch((error: unknown) => {
      this.#options.git.log?.(`mirror eviction failed: ${String(error)}`);
    });
  }

  async settled(): Promise<void> {
    await this.#evicting;
  }

  async #evict(maxBytes: number): Promise<void> {
    const root = join(this.#options.workDir, 'mirrors');
    const names = await readdir(root).catch(() => [] as string[]);
    // Half-made mirrors of a process that died while making one (this process's own are in use).
    for (const name of names) {
      const pid = /\.(?:tmp|clone)-(\d+)-\d+$/.exec(name)?.[1];
      if (pid !== undefined && Number(pid) !== process.pid) await rm(join(root, name), { recursive: true, force: true });
    }
    const measured = await Promise.all(
      names
        .filter((name) => name.endsWith('.git'))
        .map(async (name) => {
          const dir = join(root, name);
          // A mirror being swapped in (cloned, then renamed) may be missing for a moment: next pass.
          const usedAt = await stat(dir).then((info) => info.mtimeMs, () => undefined);
          return usedAt === undefined ? undefined : { dir, bytes: await treeBytes(dir).catch(() => 0), usedAt };
        }),
    );
    const mirrors = measured.filter((mirror) => mirror !== undefined);
    let total = mirrors.reduce((sum, m) => sum + m.bytes, 0);
    for (const mirror of mirrors.sort((a, b) => a.usedAt - b.usedAt)) {
      if (total <= maxBytes) break;
      if (this.#leases.has(mirror.dir) || this.#locks.has(mirror.dir)) continue;
      // Under the mirror's lock, checked again: a job that takes the mirror meanwhile (it leases first,
      // then waits for the lock) must find it whole or gone, never half removed.
      const removed = await this.#locks.run(mirror.dir, async () => {
        if (this.#leases.has(mirror.dir)) return false;
        await rm(mirror.dir, { recursive: true, force: true });
        return true;
      });
      if (!removed) continue;
      total -= mirror.bytes;
      this.#options.git.log?.(`mirror evicted: ${mirror.dir} (${mirror.bytes} bytes)`);
    }
  }

  async #ensureBare(dir: string): Promise<boolean> {
    if (await pathExists(join(dir, 'HEAD'))) return false;
    // Build in a sibling temp dir and rename, so a crash never leaves a half-made mirror in place.
    const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(temp, { recursive: true });
    try {
      // Not --quiet: simple-git waits 50 ms more for a command that prints nothing.
      await gitClient({ git: this.#options.git, baseDir: temp }).raw(['init', '--bare']);
      await rename(temp, dir);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw error;
    }
    return true;
  }
}

async function hasCommit(git: SimpleGit, commit: string): Promise<boolean> {
  try {
    // `-t` rather than `-e`: it prints, and simple-git waits 50 ms more for a command that prints nothing.
    return (await git.raw(['cat-file', '-t', `${commit}^{commit}`])).trim() === 'commit';
  } catch {
    return false;
  }
}

export function staleLock(message: string, dir: string): string | undefined {
  const match = /Unable to create '([^']+\.lock)': File exists/.exec(message);
  const path = match?.[1];
  return path !== undefined && path.startsWith(`${dir}/`) && !path.includes('/../') ? path : undefined;
}

async function treeBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await stat(path).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** A failed fetch as a FerryError: git's stderr classified (a cut answer and a 5xx are transient), ours kept. */
function fetchFailure(error: unknown, repo: RepoRef): FerryError {
  if (error instanceof FerryError) return error;
  return gitFailure(String((error as Error).message), `Fetching ${repo.canonical}`, error, repo.host);
}

/** What a broken fetch may leave in a repository: temporary packs and quarantine directories. */
async function removeTemporaryObjects(gitDir: string): Promise<void> {
  for (const [folder, prefix] of [[join(gitDir, 'objects', 'pack'), 'tmp_'], [join(gitDir, 'objects'), 'incoming-']] as const) {
    for (const name of await readdir(folder).catch(() => [] as string[])) {
      if (name.startsWith(prefix)) await rm(join(folder, name), { recursive: true, force: true });
    }
  }
}

/** `promise`, or a rejection as soon as `signal` aborts (the promise itself goes on). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
