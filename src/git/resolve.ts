import { FerryError } from '../errors.js';
import { gitClient } from './client.js';
import { gitFailure } from './errors.js';
import { lsRemotePatterns, parseLsRemote, pickRef, type RefSpec, type ResolvedRef } from './refs.js';
import type { RepoRef } from './url.js';

export interface ResolveOptions {
  allowHttp: boolean;
  timeoutMs: number;
}

/** Resolve a ref to a commit with `git ls-remote`, asking the server only for the refs that could match. */
export async function resolveRef(repo: RepoRef, spec: RefSpec, options: ResolveOptions): Promise<ResolvedRef> {
  if (spec.kind === 'commit') return pickRef(spec, []) as ResolvedRef;
  const git = gitClient(options);
  let output: string;
  try {
    output = await git.listRemote(['--symref', '--', repo.fetchUrl, ...lsRemotePatterns(spec)]);
  } catch (error) {
    throw gitFailure(String((error as Error).message), `Listing refs of ${repo.canonical}`, error);
  }
  const resolved = pickRef(spec, parseLsRemote(output));
  if (resolved) return resolved;
  if (spec.kind === 'default') {
    throw new FerryError('REF_NOT_FOUND', `${repo.canonical} has no commits yet: there is nothing to download.`);
  }
  const hint = /^[0-9a-f]{7,39}$/i.test(spec.name) ? ' Short commit ids cannot be resolved remotely: pass the full 40-character id.' : '';
  throw new FerryError('REF_NOT_FOUND', `No branch or tag named "${spec.name}" in ${repo.canonical}.${hint}`);
}
