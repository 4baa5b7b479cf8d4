import type { DoneResult } from '../../protocol/job.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { fileKeys } from '../storage/keys.js';
import { signObject } from './stored.js';
import type { FileRequest, LookupContext } from './types.js';

/**
 * What the cache keeps for a file URL as requested (normalised): the object it was last stored as, and
 * the upstream's validators to revalidate it with. Written after the object, so its presence means the
 * object is whole; rewritten (same object, new `checkedAt`) when upstream confirms it unchanged.
 */
export interface FileEntry {
  v: 1;
  kind: 'file';
  url: string;
  /** Where the bytes came from after every redirect. */
  finalUrl: string;
  etag?: string;
  lastModified?: string;
  key: string;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
  /** When the object was stored: what the bucket's lifecycle rule for files/ counts from. */
  storedAt: number;
  /** When upstream last confirmed these bytes (stored them, or answered 304). */
  checkedAt: number;
}

/**
 * The bucket removes files/ objects 7 days after they were stored (template.yml). A later 304 rewrites the
 * entry but not the object, so an entry is served only while its object is surely still there.
 */
export const FILE_ENTRY_MAX_AGE_MS = 6 * 24 * 3600 * 1000;

export async function readEntry(store: ObjectStore, url: string, now = Date.now()): Promise<FileEntry | undefined> {
  const text = await store.getText(fileKeys(url).entry);
  if (text === undefined) return undefined;
  let entry: Partial<FileEntry>;
  try {
    entry = JSON.parse(text) as Partial<FileEntry>;
  } catch {
    return undefined; // a torn or foreign object: rebuilt and rewritten
  }
  if (entry.v !== 1 || entry.url !== url || typeof entry.key !== 'string' || typeof entry.storedAt !== 'number') return undefined;
  return now - entry.storedAt < FILE_ENTRY_MAX_AGE_MS ? (entry as FileEntry) : undefined;
}

export async function writeEntry(store: ObjectStore, entry: FileEntry): Promise<void> {
  await store.put(fileKeys(entry.url).entry, Buffer.from(JSON.stringify(entry)), { 'Content-Type': 'application/json' });
}

/** The done result for a stored file: a signed URL that saves it under the upstream's name. */
export async function serveEntry(entry: FileEntry, request: Pick<FileRequest, 'ref' | 'commit'>, ctx: LookupContext, cached: boolean): Promise<DoneResult> {
  return {
    ...(await signObject(ctx.store, entry.key, entry.filename, ctx.config)),
    filename: entry.filename,
    size: entry.size,
    sha256: entry.sha256,
    commit: request.commit,
    ref: request.ref,
    format: 'file',
    cached,
  };
}
