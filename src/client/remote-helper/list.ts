// `list` answers from the worker (GET /refs), `list for-push` from the real remote: a push goes to
// the real remote, so its view of the refs must be the real remote's, now.
import type { RefsAnswer } from '../../protocol/remote-refs.js';
import { runGit } from './git.js';

/**
 * The lines of a `list` answer, without the closing blank line: `<oid> <name>` per ref and `@<target> HEAD`.
 * Peeled `^{}` entries are not ref names and have no place here: git reads the tag objects themselves.
 */
export function listLines(answer: RefsAnswer): string[] {
  const lines = answer.refs.map((ref) => `${ref.oid} ${ref.name}`);
  if (answer.head !== undefined) lines.push(`@${answer.head} HEAD`);
  return lines;
}

/** `git ls-remote --symref <url>` in the same shape (HEAD as a symref when the remote says so). */
export async function listForPush(url: string): Promise<string[]> {
  const out = await runGit(['ls-remote', '--symref', url], { timeoutMs: 120_000 });
  return lsRemoteLines(out);
}

export function lsRemoteLines(out: string): string[] {
  const symrefs = new Map<string, string>();
  const oids = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [value, name] = line.split('\t');
    if (value === undefined || name === undefined || name.endsWith('^{}')) continue;
    const symref = /^ref: (refs\/\S+)$/.exec(value);
    if (symref) symrefs.set(name, symref[1] as string);
    else if (/^[0-9a-f]{40,64}$/.test(value)) oids.set(name, value);
  }
  // `--symref` prints HEAD twice (its target, then its oid): the symref says more.
  const lines = [...oids].filter(([name]) => !symrefs.has(name)).map(([name, oid]) => `${oid} ${name}`);
  for (const [name, target] of symrefs) lines.push(`@${target} ${name}`);
  return lines;
}
