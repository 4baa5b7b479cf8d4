import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { SimpleGit, SimpleGitProgressEvent } from 'simple-git';
import { FerryError } from '../errors.js';
import { gitClient } from './client.js';
import { gitFailure } from './errors.js';
import type { RepoRef } from './url.js';

export interface FetchProgress {
  stage: string;
  percent: number;
  processed: number;
  total: number;
}

export interface MirrorOptions {
  workDir: string;
  allowHttp: boolean;
  timeoutMs: number;
}

/**
 * Bare, shallow mirrors, one per repository, reused across jobs: a later commit of the same repo is
 * one more `--depth 1` fetch into the same object database, never a new clone, and never a work tree.
 */
export class MirrorCache {
  readonly #options: MirrorOptions;
  // One git writer per mirror at a time: concurrent shallow fetches race on the `shallow` file.
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: MirrorOptions) {
    this.#options = options;
  }

  mirrorPath(repo: RepoRef): string {
    const id = createHash('sha256').update(repo.canonical).digest('hex').slice(0, 24);
    return join(this.#options.workDir, 'mirrors', `${repo.name.slice(0, 40)}-${id}.git`);
  }

  /** Make `commit` present in the repo's mirror; returns the mirror's git dir. */
  async fetch(repo: RepoRef, commit: string, onProgress?: (p: FetchProgress) => void, signal?: AbortSignal): Promise<string> {
    const dir = this.mirrorPath(repo);
    return this.#exclusive(dir, async () => {
      const created = await this.#ensureBare(dir);
      const git = gitClient({
        ...this.#options,
        baseDir: dir,
        signal,
        progress: onProgress ? (event: SimpleGitProgressEvent) => onProgress(toProgress(event)) : undefined,
      });
      if (!created && (await hasCommit(git, commit))) return dir;
      try {
        await git.raw(['fetch', '--depth=1', '--no-tags', '--progress', '--', repo.fetchUrl, `+${commit}:refs/ferry/${commit}`]);
      } catch (error) {
        if (created) await rm(dir, { recursive: true, force: true });
        if (signal?.aborted) throw new FerryError('TIMEOUT', 'The job was cancelled while fetching.', { cause: error });
        const message = String((error as Error).message);
        if (/not our ref|couldn't find remote ref|no such remote ref|unadvertised object/i.test(message)) {
          throw new FerryError('REF_NOT_FOUND', `Commit ${commit} does not exist in ${repo.canonical}.`, { cause: error });
        }
        throw gitFailure(message, `Fetching ${repo.canonical}`, error);
      }
      return dir;
    });
  }

  async #ensureBare(dir: string): Promise<boolean> {
    if (await exists(join(dir, 'HEAD'))) return false;
    // Build in a sibling temp dir and rename, so a crash never leaves a half-made mirror in place.
    const temp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(temp, { recursive: true });
    try {
      // Not --quiet: simple-git waits 50 ms more for a command that prints nothing.
      await gitClient({ ...this.#options, baseDir: temp }).raw(['init', '--bare']);
      await rename(temp, dir);
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      throw error;
    }
    return true;
  }

  async #exclusive<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(task);
    this.#locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === run) this.#locks.delete(key);
    }
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function toProgress(event: SimpleGitProgressEvent): FetchProgress {
  return { stage: event.stage, percent: event.progress, processed: event.processed, total: event.total };
}
