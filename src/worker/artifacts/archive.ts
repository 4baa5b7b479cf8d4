import { archiveStream } from '../git/archive.js';
import { archiveKeys } from '../storage/keys.js';
import { FerryError } from '../../protocol/errors.js';
import { ARCHIVE_FORMATS, type ArchiveFormat } from '../../protocol/formats.js';
import { FetchProgressTracker } from '../git/fetch-progress.js';
import { resolveRef } from '../git/resolve.js';
import { singleObject } from './single-object.js';
import type { ArtifactRequest, SingleObjectKind } from './types.js';

const CONTENT_TYPES = {
  zip: 'application/zip',
  'tar.gz': 'application/gzip',
} as const;

/** `<repo>-<short commit>`: the archive's top directory, and its file name without the extension. */
function baseName(request: ArtifactRequest): string {
  return `${request.repo.name}-${request.commit.slice(0, 7)}`;
}

/** The request's format, which for this kind is always an archive format (request.ts checks it). */
function formatOf(request: ArtifactRequest): ArchiveFormat {
  const format = request.format;
  if (!ARCHIVE_FORMATS.includes(format as ArchiveFormat)) throw new FerryError('INVALID_FORMAT', `An archive is zip or tar.gz, not ${format}.`);
  return format as ArchiveFormat;
}

export const archiveObject: SingleObjectKind = {
  name: 'archive',
  phases: ['fetching', 'archiving'],
  resolve: (repo, spec, ctx) => resolveRef(repo, spec, ctx.git),
  keys: (request) => archiveKeys(request.repo.canonical, request.commit, formatOf(request), request.repo.access?.scope),
  meta: (request) => ({ filename: `${baseName(request)}.${request.format}`, contentType: CONTENT_TYPES[formatOf(request)] }),
  async produce(request, ctx) {
    const { repo, commit } = request;
    const format = formatOf(request);
    const fetching = new FetchProgressTracker((detail) => ctx.progress('fetching', detail));
    fetching.stage('connecting', `contacting ${repo.host}`);
    const mirror = await ctx.mirrors.fetch(
      repo,
      commit,
      (line) => fetching.line(line),
      ctx.signal,
      (notice) => fetching.retrying(notice),
    );
    try {
      const stream = archiveStream(mirror.gitDir, commit, format, baseName(request), { transport: ctx.git.transport(), env: ctx.git.env });
      return { bytes: stream.stdout, done: stream.done, kill: () => stream.kill(), close: () => mirror.release() };
    } catch (error) {
      mirror.release();
      throw error;
    }
  },
};

export const archive = singleObject(archiveObject);
