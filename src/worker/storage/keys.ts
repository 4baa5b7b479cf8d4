import { createHash } from 'node:crypto';
import type { ArchiveFormat } from '../git/archive.js';

export interface ArchiveKeys {
  /** The archive bytes. */
  object: string;
  /** Written after the archive completes: its presence is what makes a cache hit. */
  manifest: string;
}

/**
 * Content-addressed: the same (repository, commit, format, layout) maps to the same key on every
 * instance, so a commit is built once. Bump LAYOUT when the archive's shape changes.
 */
const LAYOUT = 1;

export function archiveKeys(canonicalRepo: string, commit: string, format: ArchiveFormat): ArchiveKeys {
  const id = createHash('sha256').update(JSON.stringify({ v: LAYOUT, repo: canonicalRepo, commit, format })).digest('hex').slice(0, 40);
  const base = `archives/${id.slice(0, 2)}/${id}`;
  return { object: `${base}.${format}`, manifest: `${base}.json` };
}

export function jobStateKey(jobId: string): string {
  return `jobs/${jobId}.json`;
}

export function archiveFilename(repoName: string, commit: string, format: ArchiveFormat): string {
  return `${repoName}-${commit.slice(0, 7)}.${format}`;
}

export function contentDisposition(filename: string): string {
  return `attachment; filename="${filename.replace(/["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

export const CONTENT_TYPES: Record<ArchiveFormat, string> = {
  zip: 'application/zip',
  'tar.gz': 'application/gzip',
};
