import type { ListedRef, RefsAnswer } from '../../protocol/remote-refs.js';
import type { RemoteRef } from '../../protocol/refs.js';
import type { GitContext } from './context.js';
import { lsRefsV2 } from './ls-refs.js';
import { pinRepo } from './pin.js';
import { lsRemote } from './ls-remote.js';
import type { RepoRef } from './url.js';

// What a clone takes: HEAD, branches and tags (never GitHub's refs/pull/*, which can be thousands).
const PATTERNS = ['HEAD', 'refs/heads/', 'refs/tags/'];
const FAST_PATH_TIMEOUT_MS = 10_000;

/** Every branch and tag of `repo` and where HEAD points: protocol v2 in-process, `git ls-remote` otherwise. */
export async function listRemoteRefs(repo: RepoRef, git: GitContext): Promise<RefsAnswer> {
  const pin = await pinRepo(repo, git, `Listing refs of ${repo.canonical}`);
  const fast =
    repo.protocol === 'https' || git.allowHttp
      ? await lsRefsV2(repo.fetchUrl, PATTERNS, { timeoutMs: Math.min(git.timeoutMs, FAST_PATH_TIMEOUT_MS), agents: git.agents, env: git.processEnv, lookup: pin.lookup, authorization: repo.access?.authorization() })
      : undefined;
  // ls-remote's patterns match name tails, so namespaces cannot be asked for: list all, keep ours in toAnswer.
  return toAnswer(repo, fast ?? (await lsRemote(repo, [], git, { pin })));
}

export function toAnswer(repo: RepoRef, remote: readonly RemoteRef[]): RefsAnswer {
  const peeled = new Map<string, string>();
  for (const ref of remote) if (ref.oid && ref.name.endsWith('^{}')) peeled.set(ref.name.slice(0, -3), ref.oid);
  const refs: ListedRef[] = [];
  for (const ref of remote) {
    if (!ref.oid || ref.name.endsWith('^{}') || !/^refs\/(heads|tags)\//.test(ref.name)) continue;
    const commit = peeled.get(ref.name);
    refs.push({ name: ref.name, oid: ref.oid, ...(commit !== undefined && commit !== ref.oid && { peeled: commit }) });
  }
  refs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const head = remote.find((ref) => ref.name === 'HEAD' && ref.symref)?.symref;
  return { repo: repo.canonical, ...(head !== undefined && refs.some((ref) => ref.name === head) && { head }), refs };
}
