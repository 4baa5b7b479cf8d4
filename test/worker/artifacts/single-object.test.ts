import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ArtifactStream, SingleObjectKind } from '../../../src/worker/artifacts/types.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import { buildArtifact, lookupCached } from '../../../src/worker/artifacts/single-object.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import type { Phase } from '../../../src/protocol/job.js';
import { MemoryStore } from '../fakes.js';

const config = loadConfig({ FERRY_MAX_ARCHIVE_BYTES: '1000000' });
const git = createGitContext({ allowHttp: false, timeoutMs: 1000 });
const mirrors = new MirrorCache({ workDir: join(tmpdir(), 'ferry-build-unused'), git });
const request = { repo: parseRepoUrl('https://github.com/owner/repo', config), ref: 'main', commit: 'c'.repeat(40), format: 'zip' as const };

/** A kind that is not the archive: its bytes come from memory, so only the shared path is under test. */
function textKind(chunks: Buffer[]): SingleObjectKind & { closed: number; killed: number } {
  const kind = {
    name: 'text',
    phases: ['fetching', 'bundling'] as Phase[],
    closed: 0,
    killed: 0,
    resolve: async () => ({ ref: 'main', commit: 'c'.repeat(40) }),
    keys: () => ({ object: 'text/one.txt', manifest: 'text/one.json' }),
    meta: () => ({ filename: 'one.txt', contentType: 'text/plain' }),
    async produce(): Promise<ArtifactStream> {
      return {
        bytes: (async function* () {
          yield* chunks;
        })(),
        done: Promise.resolve(),
        kill: () => void kind.killed++,
        close: () => void kind.closed++,
      };
    },
  };
  return kind;
}

describe('buildArtifact (the path of one-object kinds)', () => {
  it('uploads the bytes, writes the manifest last, hashes, signs, and is a cache hit afterwards', async () => {
    const store = new MemoryStore();
    const kind = textKind([Buffer.from('hello '), Buffer.from('world')]);
    const phases: Phase[] = [];
    const result = await buildArtifact(kind, request, { config, git, store, mirrors, refs: new RefsCache({ git }), progress: (phase: Phase) => phases.push(phase) });

    expect(store.objects.get('text/one.txt')?.toString()).toBe('hello world');
    expect(store.writes).toEqual(['text/one.txt', 'text/one.json']);
    expect(JSON.parse(store.objects.get('text/one.json')?.toString() ?? '{}')).toMatchObject({ kind: 'text', filename: 'one.txt', size: 11 });
    expect(result).toMatchObject({ filename: 'one.txt', size: 11, sha256: createHash('sha256').update('hello world').digest('hex'), cached: false, ref: 'main' });
    expect(result.url).toContain('text/one.txt');
    // The streaming phase is the kind's last one; uploading and signing are the shared path's.
    expect([...new Set(phases)]).toEqual(['bundling', 'uploading', 'signing']);
    expect(kind.closed).toBe(1);

    expect(await lookupCached(kind, store, request, config)).toMatchObject({ cached: true, sha256: result.sha256 });
  });

  it('stops the producer past the size limit and leaves no manifest', async () => {
    const store = new MemoryStore();
    const kind = textKind([Buffer.alloc(600_000), Buffer.alloc(600_000)]);
    await expect(buildArtifact(kind, request, { config, git, store, mirrors, refs: new RefsCache({ git }), progress: () => undefined })).rejects.toMatchObject({ code: 'TOO_LARGE' });
    expect(kind.killed).toBe(1);
    expect(kind.closed).toBe(1);
    expect(store.objects.has('text/one.json')).toBe(false);
  });
});
