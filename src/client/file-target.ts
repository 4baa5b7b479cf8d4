// Which kind `ferry get` asks for, decided from the URL alone; light enough to load before the command runs.
import type { ArchiveFormat } from '../protocol/formats.js';
import { parseFileUrl, type FileTarget } from '../protocol/file-url.js';

/** The archive format a file's name says it has, if ferry can unpack it. */
export function archiveFormatOf(filename: string): ArchiveFormat | undefined {
  if (/\.zip$/i.test(filename)) return 'zip';
  if (/\.(tar\.gz|tgz)$/i.test(filename)) return 'tar.gz';
  return undefined;
}

/**
 * The file a URL names when it has a file's shape (a release asset, a raw or /blob/ link, a source archive,
 * a gist); undefined for repositories and for anything ferry cannot tell apart here (the worker decides).
 */
export function fileTargetOf(url: string): FileTarget | undefined {
  try {
    return parseFileUrl(url);
  } catch {
    return undefined; // not a URL this parser takes: the worker's own check answers with the reason
  }
}
