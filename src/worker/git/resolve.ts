import { FerryError } from '../../protocol/errors.js';
import type { GitContext } from './context.js';
import { lsRefsV2 } from './ls-refs.js';
import { pinRepo } from './pin.js';
import { lsRemote } from './ls-remote.js';
import { lsRemotePatterns, pickRef, type RefSpec, type ResolvedRef } from '../../protocol/refs.js';
import type { RepoRef } from './url.js';

// The in-process answer is one small request; if it takes longer, git gets the full budget.
const FAST_PATH_TIMEOUT_MS = 10_000;

// Protocol v2 `ls-refs` in-process first (no spawn, a pooled TLS connection); anything unusual goes
// to `git ls-remote`, which then also produces the errors.
export async function resolveRef(repo: RepoRef, spec: RefSpec, git: GitContext): Promise<ResolvedRef> {
  if (spec.kind === 'commit') return pickRef(spec, []) as ResolvedRef;
  const patterns = lsRemotePatterns(spec);
  const pin = await pinRepo(repo, git, `Listing refs of ${repo.canonical}`);
  // git refuses plain http unless allowed (env.ts): the fast path must not be more permissive.
  const fast =
    repo.protocol === 'https' || git.allowHttp
      ? await lsRefsV2(repo.fetchUrl, patterns, { timeoutMs: Math.min(git.timeoutMs, FAST_PATH_TIMEOUT_MS), agents: git.agents, env: git.processEnv, lookup: pin.lookup, authorization: repo.access?.authorization() })
      : undefined;
  let refs = fast;
  if (!refs) {
    refs = await lsRemote(repo, patterns, git, { pin });
    // The fast path failed a working host (a missing repository also falls back, and that is no news):
    // worth one line in the log, not one per request.
    if (git.log && !git.fellBack.has(repo.host)) {
      git.fellBack.add(repo.host);
      git.log(`ls-refs: ${repo.host} gave no clean protocol v2 answer, so git ls-remote listed the refs (logged once per host)`);
    }
  }
  const resolved = pickRef(spec, refs);
  if (resolved) return resolved;
  if (spec.kind === 'default') {
    throw new FerryError('REF_NOT_FOUND', `${repo.canonical} has no commits yet: there is nothing to download.`);
  }
  const hint = /^[0-9a-f]{7,39}$/i.test(spec.name) ? ' Short commit ids cannot be resolved remotely: pass the full 40-character id.' : '';
  throw new FerryError('REF_NOT_FOUND', `No branch or tag named "${spec.name}" in ${repo.canonical}.${hint}`);
}
