import { archiveStream } from '../git/archive.js';
import { archiveKeys } from '../storage/keys.js';
import type { ArtifactKind, ArtifactRequest } from './types.js';

const CONTENT_TYPES = {
  zip: 'application/zip',
  'tar.gz': 'application/gzip',
} as const;

/** `<repo>-<short commit>`: the archive's top directory, and its file name without the extension. */
function baseName(request: ArtifactRequest): string {
  return `${request.repo.name}-${request.commit.slice(0, 7)}`;
}

export const archive: ArtifactKind = {
  name: 'archive',
  phases: ['fetching', 'archiving'],
  keys: (request) => archiveKeys(request.repo.canonical, request.commit, request.format),
  meta: (request) => ({ filename: `${baseName(request)}.${request.format}`, contentType: CONTENT_TYPES[request.format] }),
  async produce(request, ctx) {
    const { repo, commit, format } = request;
    ctx.progress('fetching', { percent: 0, message: `fetching ${repo.canonical}` });
    const mirror = await ctx.mirrors.fetch(
      repo,
      commit,
      (p) => ctx.progress('fetching', { percent: p.percent, message: `${p.stage} ${p.processed}/${p.total}` }),
      ctx.signal,
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
