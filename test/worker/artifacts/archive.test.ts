import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { archive, archiveObject } from '../../../src/worker/artifacts/archive.js';
import { ARTIFACT_KINDS, artifactKind } from '../../../src/worker/artifacts/registry.js';
import { loadConfig } from '../../../src/worker/config.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import type { ArchiveFormat } from '../../../src/protocol/formats.js';

const config = loadConfig({});
const request = { repo: parseRepoUrl('https://github.com/owner/repo', config), ref: 'main', commit: 'a'.repeat(40), format: 'zip' as ArchiveFormat };

describe('the archive kind', () => {
  it('keeps the cache keys archives had before kinds, so existing entries still hit', () => {
    const id = createHash('sha256')
      .update(JSON.stringify({ v: 1, repo: 'https://github.com/owner/repo', commit: 'a'.repeat(40), format: 'zip' }))
      .digest('hex')
      .slice(0, 40);
    expect(archiveObject.keys(request)).toEqual({ object: `archives/${id.slice(0, 2)}/${id}.zip`, manifest: `archives/${id.slice(0, 2)}/${id}.json` });
  });

  it('keys change with exactly the inputs that change the bytes', () => {
    const key = (changes: Partial<typeof request>): string => archiveObject.keys({ ...request, ...changes }).object;
    expect(key({ ref: 'v1.0.0' })).toBe(key({}));
    expect(key({ commit: 'b'.repeat(40) })).not.toBe(key({}));
    expect(key({ format: 'tar.gz' })).not.toBe(key({}));
    expect(key({ repo: parseRepoUrl('https://github.com/owner/other', config) })).not.toBe(key({}));
  });

  it('names its download and content type from repository, commit and format', () => {
    expect(archiveObject.meta(request)).toEqual({ filename: 'repo-aaaaaaa.zip', contentType: 'application/zip' });
    expect(archiveObject.meta({ ...request, format: 'tar.gz' })).toEqual({ filename: 'repo-aaaaaaa.tar.gz', contentType: 'application/gzip' });
    expect(archive.phases).toEqual(['fetching', 'archiving']);
  });
});

describe('the kind registry', () => {
  it('defaults to the archive (job records and events from before kinds)', () => {
    expect(artifactKind(undefined)).toBe(archive);
    expect(artifactKind('archive')).toBe(archive);
    expect(ARTIFACT_KINDS).toContain('archive');
  });

  it('refuses an unknown kind with BAD_REQUEST naming the kinds there are', () => {
    expect(() => artifactKind('tarball')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining('one of archive') }));
  });
});
