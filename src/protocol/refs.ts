import { FerryError } from './errors.js';

/** What a user asked for: a name (branch or tag), a full commit id, or nothing (the default branch). */
export type RefSpec = { kind: 'default' } | { kind: 'name'; name: string } | { kind: 'commit'; commit: string };

export interface ResolvedRef {
  commit: string;
  ref: string;
}

const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const MAX_REF_LENGTH = 255;

/** Validate a user-supplied ref with git's check-ref-format rules, before it gets near a git argument. */
export function parseRefSpec(input: unknown): RefSpec {
  if (input === undefined || input === null || input === '') return { kind: 'default' };
  if (typeof input !== 'string') throw new FerryError('INVALID_REF', 'Expected `ref` to be a branch, tag or commit id string.');
  const ref = input.trim();
  if (COMMIT.test(ref.toLowerCase())) return { kind: 'commit', commit: ref.toLowerCase() };
  if (/^[0-9a-f]{7,39}$/i.test(ref)) {
    // Could be a short commit id, which `git ls-remote` cannot resolve; a branch of that shape still works.
    return { kind: 'name', name: ref };
  }
  const problem = refNameProblem(ref);
  if (problem) throw new FerryError('INVALID_REF', `"${ref.slice(0, 80)}" is not a valid ref: ${problem}.`);
  return { kind: 'name', name: ref };
}

/** Why git's check-ref-format would refuse `ref`, or undefined when it is a valid name. */
export function refNameProblem(ref: string): string | undefined {
  if (ref.length > MAX_REF_LENGTH) return `longer than ${MAX_REF_LENGTH} characters`;
  if (ref.startsWith('-')) return 'it starts with "-"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(ref)) return 'it contains a space, a control character or one of ~^:?*[\\';
  if (ref.includes('..') || ref.includes('@{') || ref.includes('//')) return 'it contains "..", "@{" or "//"';
  if (ref === '@' || ref.startsWith('/') || ref.endsWith('/') || ref.endsWith('.') || ref.endsWith('.lock')) {
    return 'it starts or ends with "/", or ends with "." or ".lock"';
  }
  if (ref.split('/').some((part) => part.startsWith('.'))) return 'a component starts with "."';
  return undefined;
}

export interface RemoteRef {
  name: string;
  oid?: string;
  symref?: string;
}

export function parseLsRemote(output: string): RemoteRef[] {
  const refs: RemoteRef[] = [];
  for (const line of output.split('\n')) {
    const symref = /^ref: (\S+)\t(\S+)$/.exec(line);
    if (symref) {
      refs.push({ name: symref[2] as string, symref: symref[1] as string });
      continue;
    }
    const plain = /^([0-9a-f]{40}|[0-9a-f]{64})\t(\S+)$/.exec(line);
    if (plain) refs.push({ name: plain[2] as string, oid: plain[1] as string });
  }
  return refs;
}

// git's own order for a short name (refs/<name>, refs/tags/, refs/heads/); annotated tags peeled.
export function pickRef(spec: RefSpec, refs: RemoteRef[]): ResolvedRef | undefined {
  const oid = (name: string): string | undefined =>
    refs.find((r) => r.name === `${name}^{}` && r.oid)?.oid ?? refs.find((r) => r.name === name && r.oid)?.oid;
  if (spec.kind === 'commit') return { commit: spec.commit, ref: spec.commit };
  if (spec.kind === 'default') {
    const branch = refs.find((r) => r.name === 'HEAD' && r.symref)?.symref;
    const commit = oid('HEAD');
    if (!commit) return undefined;
    return { commit, ref: branch?.replace(/^refs\/heads\//, '') ?? 'HEAD' };
  }
  const name = spec.name;
  for (const full of name.startsWith('refs/') ? [name] : [`refs/${name}`, `refs/tags/${name}`, `refs/heads/${name}`]) {
    const commit = oid(full);
    if (commit) return { commit, ref: name };
  }
  return undefined;
}

/** Patterns for `git ls-remote` so the server sends only what could match (protocol v2 ref-prefix). */
export function lsRemotePatterns(spec: RefSpec): string[] {
  if (spec.kind === 'default') return ['HEAD'];
  if (spec.kind === 'commit') return [];
  const names = spec.name.startsWith('refs/') ? [spec.name] : [`refs/tags/${spec.name}`, `refs/heads/${spec.name}`, `refs/${spec.name}`];
  // ls-remote matches patterns against whole lines' names, so an annotated tag's peeled commit
  // (`refs/tags/v1^{}`) must be asked for by its own name.
  return names.flatMap((name) => [name, `${name}^{}`]);
}
