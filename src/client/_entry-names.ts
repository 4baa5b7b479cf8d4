// Checked in the listing pass, before a byte is written.
import { FerryError } from '../protocol/errors.js';

export type Kind = 'dir' | 'file' | 'symlink' | 'other';

export interface Listed {
  name: string;
  kind: Kind;
}

/** Refuses names that could land outside the target: absolute, drive letters, `..`, NUL, backslashes. */
export function checkEntryName(name: string): void {
  const bad =
    name === '' || name.includes('\0') || name.includes('\\') || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split('/').includes('..');
  if (bad) throw unsafe(`the entry "${name.slice(0, 200)}" would be written outside the target directory`);
}

export function unsafe(why: string): FerryError {
  return new FerryError('UNSAFE_ARCHIVE', `Refusing to extract: ${why}. The archive is not what git archive produces.`);
}

/** The one first path segment every entry shares, when all other entries sit beneath it. */
export function commonTopLevel(entries: Listed[]): string | undefined {
  let top: string | undefined;
  for (const { name, kind } of entries) {
    const [first = '', ...rest] = name.split('/').filter((s) => s !== '' && s !== '.');
    if (first === '') continue;
    if (rest.length === 0 && kind !== 'dir') return undefined; // a file at the top
    if (top === undefined) top = first;
    else if (top !== first) return undefined;
  }
  return top;
}

export function relativeName(name: string, strip: string | undefined): string {
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (strip !== undefined && segments[0] === strip) segments.shift();
  return segments.join('/');
}

/** `link -> somewhere` followed by `link/file` would write through the link: never in git's output. */
export function checkNoEntryBeneathSymlink(entries: Listed[], strip: string | undefined): void {
  const links = new Set(entries.filter((e) => e.kind === 'symlink').map((e) => relativeName(e.name, strip)));
  if (links.size === 0) return;
  for (const entry of entries) {
    const segments = relativeName(entry.name, strip).split('/');
    for (let i = 1; i < segments.length; i++) {
      if (links.has(segments.slice(0, i).join('/'))) throw unsafe(`the entry "${entry.name}" sits beneath a symlink`);
    }
  }
}
