import { createHash } from 'node:crypto';
import type { ArchiveFormat } from '../../protocol/formats.js';

export interface ContentKeys {
  object: string;
  /** Written after the bytes complete: its presence is what makes a cache hit. */
  manifest: string;
}

// The same identity (the inputs that change the bytes) maps to the same key on every instance, so an
// artifact is built once. Each prefix has its own lifecycle rule in template.yml.
export function contentKeys(prefix: string, identity: Record<string, unknown>, extension: string): ContentKeys {
  const id = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 40);
  const base = `${prefix}/${id.slice(0, 2)}/${id}`;
  return { object: `${base}.${extension}`, manifest: `${base}.json` };
}

/** Bump when the archive's shape changes. */
const ARCHIVE_LAYOUT = 1;

/** Unchanged since before kinds, so old entries still hit. */
export function archiveKeys(canonicalRepo: string, commit: string, format: ArchiveFormat, tokenScope?: string): ContentKeys {
  return contentKeys(scopedPrefix('archives', tokenScope), { v: ARCHIVE_LAYOUT, repo: canonicalRepo, commit, format }, format);
}

/**
 * Artifacts built with a token live under `<prefix>/t-<scope>/`, the scope an HMAC of the token under a deployment
 * secret (git/access.ts): a request without that token computes other keys and never finds them. Same top-level
 * prefix, so the bucket's lifecycle rules and the role's policy cover them.
 */
export function scopedPrefix(prefix: string, tokenScope: string | undefined): string {
  return tokenScope ? `${prefix}/t-${tokenScope}` : prefix;
}

/** Bump when what a file object or its entry holds changes. */
const FILE_LAYOUT = 1;

/**
 * Where kind `file` keeps things: the entry of a file URL as requested (normalised), which names the object
 * it was last stored as, and the objects, named by the URL the bytes came from after every redirect and the
 * upstream's validators (ETag, Last-Modified, size): a changed file is a new object, never an overwrite.
 */
export function fileKeys(url: string): { entry: string; object(finalUrl: string, validators: Record<string, unknown>): string } {
  return {
    entry: contentKeys('files', { v: FILE_LAYOUT, url }, 'json').manifest,
    object: (finalUrl, validators) => contentKeys('files', { v: FILE_LAYOUT, url: finalUrl, ...validators }, 'file').object,
  };
}

export function jobStateKey(jobId: string): string {
  return `jobs/${jobId}.json`;
}

export function contentDisposition(filename: string): string {
  return `attachment; filename="${filename.replace(/["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}
