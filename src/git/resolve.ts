import { FerryError } from '../errors.js';
import { gitClient } from './client.js';
import { gitFailure } from './errors.js';
import { lsRefsV2 } from './ls-refs.js';
import { assertSupportedGit } from './version.js';
import { lsRemotePatterns, parseLsRemote, pickRef, type RefSpec, type RemoteRef, type ResolvedRef } from './refs.js';
import type { RepoRef } from './url.js';

export interface ResolveOptions {
  allowHttp: boolean;
  timeoutMs: number;
}

// The in-process answer is one small request; if it takes longer, git gets the full budget.
const FAST_PATH_TIMEOUT_MS = 10_000;

/**
 * Resolve a ref to a commit, asking the server only for the refs that could match. Tries protocol v2
 * `ls-refs` in-process first (no git spawn, and a pooled TLS connection for the next resolution);
 * anything unusual goes to `git ls-remote`, which then also produces the errors.
 */
export async function resolveRef(repo: RepoRef, spec: RefSpec, options: ResolveOptions): Promise<ResolvedRef> {
  if (spec.kind === 'commit') return pickRef(spec, []) as ResolvedRef;
  const patterns = lsRemotePatterns(spec);
  // git refuses plain http unless allowed (env.ts): the fast path must not be more permissive.
  const fast =
    repo.protocol === 'https' || options.allowHttp
      ? await lsRefsV2(repo.fetchUrl, patterns, { timeoutMs: Math.min(options.timeoutMs, FAST_PATH_TIMEOUT_MS) })
      : undefined;
  const resolved = pickRef(spec, fast ?? (await lsRemote(repo, patterns, options)));
  if (resolved) return resolved;
  if (spec.kind === 'default') {
    throw new FerryError('REF_NOT_FOUND', `${repo.canonical} has no commits yet: there is nothing to download.`);
  }
  const hint = /^[0-9a-f]{7,39}$/i.test(spec.name) ? ' Short commit ids cannot be resolved remotely: pass the full 40-character id.' : '';
  throw new FerryError('REF_NOT_FOUND', `No branch or tag named "${spec.name}" in ${repo.canonical}.${hint}`);
}

async function lsRemote(repo: RepoRef, patterns: string[], options: ResolveOptions): Promise<RemoteRef[]> {
  await assertSupportedGit();
  const git = gitClient(options);
  try {
    return parseLsRemote(await git.listRemote(['--symref', '--', repo.fetchUrl, ...patterns]));
  } catch (error) {
    throw gitFailure(String((error as Error).message), `Listing refs of ${repo.canonical}`, error);
  }
}
