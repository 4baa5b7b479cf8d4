// `<dest>.part.json`: which object a `.part` holds bytes of and which ranges of it are on disk, so the
// next run continues instead of starting over. Written when a piece completes and when a run stops,
// by a rename (a crash leaves the old journal or the new one, never half of one). Not fsynced: a
// journal that claims bytes a power cut lost is caught by the sha256 at the end, which fetches again.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { Range } from './download-ranges.js';

export interface Journal {
  version: 1;
  /** The object's size and ETag as the server reported them. */
  size: number;
  etag: string | undefined;
  /** The sha256 the caller expects: another expected file never continues this one. */
  sha256: string;
  done: Range[];
}

export function journalPath(part: string): string {
  return `${part}.json`;
}

/** The journal, or undefined when there is none or it is not one we wrote (then the `.part` is started over). */
export async function readJournal(path: string): Promise<Journal | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
  const journal = value as Partial<Journal>;
  if (journal.version !== 1 || !Number.isSafeInteger(journal.size) || typeof journal.sha256 !== 'string' || !Array.isArray(journal.done)) return undefined;
  if (journal.etag !== undefined && typeof journal.etag !== 'string') return undefined;
  const size = journal.size as number;
  let at = 0;
  for (const range of journal.done as unknown[]) {
    // Sorted, disjoint and inside the object, or not trusted at all.
    if (!Array.isArray(range) || range.length !== 2) return undefined;
    const [start, end] = range as unknown[];
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || (start as number) < at || (end as number) <= (start as number) || (end as number) > size) return undefined;
    at = end as number;
  }
  return journal as Journal;
}

export async function writeJournal(path: string, journal: Journal): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, JSON.stringify(journal));
  await rename(temp, path);
}

export async function removeJournal(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.tmp`, { force: true });
}
