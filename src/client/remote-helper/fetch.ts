// `fetch` batches through the worker: one bundle job for what the repository lacks, every part
// downloaded (resumable, sha256 checked) and indexed in order, then every wanted object checked.
// Exported for commands that fetch through ferry without git driving them (ferry clone, ferry pull).
import { mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FerryError } from '../../protocol/errors.js';
import type { BundlePart } from '../../protocol/job.js';
import { download } from '../download.js';
import { submitAndFollow, type GatewayClientLike } from '../job-follow.js';
import { applyBundle } from './bundle-apply.js';
import { missingObjects, runGit } from './git.js';
import type { HelperProgress } from './progress.js';

export interface FetchRequest {
  /** The repository as the worker knows it (`https://github.com/o/r`). */
  url: string;
  /** Objects the caller needs (from `list`): commits or annotated tags. */
  wants: readonly string[];
  client: GatewayClientLike;
  progress: HelperProgress;
  /** The oids `list` showed, if it ran: a missing want that was never listed is not a race but a wrong request. */
  listed?: ReadonlySet<string> | undefined;
  /** Let `git index-pack` draw its own progress on stderr ("Receiving objects", "Resolving deltas"). */
  gitProgress?: boolean;
  signal?: AbortSignal;
}

export interface FetchOutcome {
  /** `.keep` files of the packs written, in order; the caller removes them once the refs are updated. */
  keepFiles: string[];
  parts: number;
  bytes: number;
}

/** Most haves a bundle job accepts. */
export const MAX_HAVES = 1000;

export const REMOTE_CHANGED = 'the remote changed while fetching; run the command again';

export async function fetchThroughFerry(request: FetchRequest): Promise<FetchOutcome> {
  const outcome: FetchOutcome = { keepFiles: [], parts: 0, bytes: 0 };
  // A second batch (git asking for tags after the branches) usually finds everything already here.
  if ((await missingObjects(request.wants)).length === 0) return outcome;

  const have = await localHaves();
  request.progress.detail(`asking the worker for a bundle of ${request.url} (${have.length} local objects as haves)`);
  const done = await submitAndFollow(request.client, { kind: 'bundle', url: request.url, have }, { onEvent: (event) => request.progress.job(event), signal: request.signal });
  const parts = done.parts ?? [];
  request.progress.detail(`${parts.length} bundle part(s), ${parts.reduce((sum, part) => sum + part.size, 0)} bytes${done.cached ? ' (cached)' : ''}`);

  if (parts.length > 0) {
    const gitDir = (await runGit(['rev-parse', '--absolute-git-dir'])).trim();
    const packDir = resolve((await runGit(['rev-parse', '--git-path', 'objects/pack'])).trim());
    // Inside the repository: the same filesystem as the packs, and nothing left in /tmp after a crash of the disk.
    const temp = await mkdtemp(join(gitDir, 'ferry-fetch-'));
    try {
      await downloadAndApply(parts, temp, packDir, request, outcome);
    } catch (error) {
      // The packs stay (harmless, gc drops what nothing reaches); their keeps must not outlive us.
      await Promise.all(outcome.keepFiles.map((file) => rm(file, { force: true })));
      throw error;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }

  const missing = await missingObjects(request.wants);
  if (missing.length > 0) {
    await Promise.all(outcome.keepFiles.map((file) => rm(file, { force: true })));
    const unlisted = request.listed && missing.find((oid) => !request.listed?.has(oid));
    if (unlisted) {
      throw new FerryError('REF_NOT_FOUND', `${unlisted} is not reachable from any branch or tag of ${request.url}; ferry fetches branches and tags only.`);
    }
    throw new FerryError('GIT_FAILED', REMOTE_CHANGED);
  }
  return outcome;
}

async function downloadAndApply(parts: BundlePart[], temp: string, packDir: string, request: FetchRequest, outcome: FetchOutcome): Promise<void> {
  const total = parts.reduce((sum, part) => sum + part.size, 0);
  const saved: string[] = [];
  // All parts first, then indexing: one download line, then index-pack's own progress per part.
  for (const [index, part] of parts.entries()) {
    const before = outcome.bytes;
    const result = await download({
      url: part.url,
      dest: join(temp, `part-${index}.bundle`),
      sha256: part.sha256,
      size: part.size,
      signal: request.signal,
      onProgress: ({ bytes }) => request.progress.download(before + bytes, total),
      onRetry: ({ bytes, reason }) => request.progress.detail(`download of part ${index + 1} interrupted at ${bytes} bytes (${reason}); resuming`),
    });
    outcome.bytes += result.size;
    saved.push(result.path);
  }
  request.progress.downloaded();
  // Each part needs the objects of the ones before it: applied in the order given.
  for (const path of saved) {
    const keep = await applyBundle(path, packDir, { verbose: request.gitProgress ?? false });
    if (keep) outcome.keepFiles.push(keep);
    outcome.parts++;
    await rm(path, { force: true });
  }
}

/**
 * Objects the repository has at its refs, newest first, deduplicated, at most MAX_HAVES: each tip's
 * commit, and for an annotated tag the tag object too — the worker's bundle chain records tips as the
 * remote lists them (tag objects), and a clone is served from the chain only when its haves name every
 * tip of some link. None in a shallow repository, whose tips lack the history a have promises.
 */
export async function localHaves(): Promise<string[]> {
  const shallow = (await runGit(['rev-parse', '--is-shallow-repository'])).trim() === 'true';
  if (shallow) return [];
  const out = await runGit(['for-each-ref', '--sort=-committerdate', '--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype)', 'refs/']);
  const haves = new Set<string>();
  for (const line of out.split('\n')) {
    const [oid, type, peeled, peeledType] = line.split(' ');
    const commit = type === 'commit' ? oid : peeledType === 'commit' ? peeled : undefined;
    if (!commit || !oid) continue;
    if (oid !== commit) haves.add(oid);
    haves.add(commit);
    if (haves.size >= MAX_HAVES) break;
  }
  return [...haves].slice(0, MAX_HAVES);
}
