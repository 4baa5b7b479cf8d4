// What a URL's `/tree/<ref>[/<path>]` or `/commit/<id>` selects, together with a request's own `ref`.
import { FerryError } from '../../protocol/errors.js';
import type { RefsAnswer } from '../../protocol/remote-refs.js';
import { parseRefSpec, refNameProblem, type RefSpec } from '../../protocol/refs.js';
import type { RepoRef } from './url.js';

/** A ref to resolve as usual, or `tree` segments whose longest prefix that is a remote branch or tag is the ref. */
export type UrlRefChoice = { ref: RefSpec; tree?: undefined } | { ref?: undefined; tree: string[] };

/**
 * The URL's ref and the request's `ref` must agree: an explicit `ref` equal to the URL's (or, for `/tree/`,
 * to a prefix of its path at a `/`, which settles where the ref ends) is fine; a different one is a 400.
 */
export function refChoice(repo: RepoRef, requested: unknown): UrlRefChoice {
  const hint = repo.refHint;
  const explicit = parseRefSpec(requested);
  if (!hint) return { ref: explicit };
  if (hint.kind === 'commit') {
    if (explicit.kind === 'default' || (explicit.kind === 'commit' && explicit.commit === hint.commit)) return { ref: { kind: 'commit', commit: hint.commit } };
    throw conflict(`commit ${hint.commit}`, explicit);
  }
  const path = hint.segments.join('/');
  if (explicit.kind === 'default') return hint.segments.length === 1 ? { ref: parseRefSpec(path) } : { tree: hint.segments };
  const name = explicit.kind === 'commit' ? explicit.commit : explicit.name;
  if (path === name || path.startsWith(`${name}/`)) return { ref: explicit };
  throw conflict(`"${path}" (/tree/${path})`, explicit);
}

/**
 * `/tree/a/b/c`: the ref is `a/b/c`, `a/b` or `a`, whichever is the longest the remote has as a branch or tag
 * (GitHub reads these URLs the same way); the rest is a path in the tree, and the archive is of the whole tree.
 */
export function refFromTree(repo: RepoRef, segments: readonly string[], remote: RefsAnswer): RefSpec {
  const names = new Set(remote.refs.map((ref) => ref.name));
  for (let length = segments.length; length > 0; length--) {
    const candidate = segments.slice(0, length).join('/');
    if (refNameProblem(candidate)) continue;
    if (names.has(`refs/heads/${candidate}`) || names.has(`refs/tags/${candidate}`)) return { kind: 'name', name: candidate };
  }
  const first = segments[0] ?? '';
  if (/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i.test(first)) return { kind: 'commit', commit: first.toLowerCase() };
  throw new FerryError('REF_NOT_FOUND', `No branch or tag of ${repo.canonical} is named by /tree/${segments.join('/')} (nor any start of it).`);
}

function conflict(fromUrl: string, explicit: RefSpec): FerryError {
  const asked = explicit.kind === 'commit' ? explicit.commit : explicit.kind === 'name' ? explicit.name : '';
  return new FerryError('INVALID_REF', `The URL names ${fromUrl} but \`ref\` (--ref) is "${asked}": give only one of them, or the same.`);
}
