import { FerryError } from '../../protocol/errors.js';
import type { Pin } from '../net/destinations.js';
import type { GitContext } from './context.js';
import { usesProxy } from './ls-refs.js';
import type { RepoRef } from './url.js';

/**
 * The SSRF guard for one exchange with `repo`'s host (a listing, a probe, a fetch): checked now, and the
 * exchange then connects to the checked addresses only. `what` prefixes a DNS failure, as git's own are.
 */
export async function pinRepo(repo: RepoRef, git: GitContext, what: string): Promise<Pin> {
  try {
    return await git.destinations.pin(new URL(repo.fetchUrl), { viaProxy: usesProxy(git.processEnv) });
  } catch (error) {
    if (error instanceof FerryError && error.code === 'UPSTREAM_UNREACHABLE') throw new FerryError(error.code, `${what}: ${error.message}`, { cause: error.cause });
    throw error;
  }
}
