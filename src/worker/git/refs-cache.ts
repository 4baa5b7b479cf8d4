import type { RefsAnswer } from '../../protocol/remote-refs.js';
import type { GitContext } from './context.js';
import { listRemoteRefs } from './list-refs.js';
import type { RepoRef } from './url.js';

export interface RefsCacheOptions {
  git: GitContext;
  /** How long one listing answers for its repository: a clone's `list` and its bundle job see the same refs. */
  ttlMs?: number;
  maxEntries?: number;
  now?: () => number;
  list?: typeof listRemoteRefs;
}

interface Entry {
  at: number;
  answer: Promise<RefsAnswer>;
}

// One listing per repository per few seconds, shared by concurrent callers; failures are not kept.
export class RefsCache {
  readonly #entries = new Map<string, Entry>();
  readonly #options: Required<Omit<RefsCacheOptions, 'git'>> & { git: GitContext };

  constructor(options: RefsCacheOptions) {
    this.#options = { ttlMs: 5000, maxEntries: 1000, now: Date.now, list: listRemoteRefs, ...options };
  }

  get(repo: RepoRef): Promise<RefsAnswer> {
    const { ttlMs, maxEntries, now, list, git } = this.#options;
    // A token's listing is its own: another request must not learn a private repository's refs from it.
    const key = repo.access ? `${repo.canonical}#${repo.access.scope}` : repo.canonical;
    const entry = this.#entries.get(key);
    if (entry && now() - entry.at < ttlMs) return entry.answer;
    const answer = list(repo, git);
    const fresh: Entry = { at: now(), answer };
    this.#entries.delete(key);
    this.#entries.set(key, fresh);
    answer.catch(() => {
      if (this.#entries.get(key) === fresh) this.#entries.delete(key);
    });
    // Oldest first in a Map's order: the bound costs one deletion.
    if (this.#entries.size > maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
    return answer;
  }
}
