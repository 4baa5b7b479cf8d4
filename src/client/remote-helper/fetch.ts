// `fetch` batches through the worker: one bundle job for what the repository lacks, every part
// downloaded (resumable, sha256 checked) and indexed in order, then every wanted object checked.
// Exported for commands that fetch through ferry without git driving them (ferry clone, ferry pull).
// Parts download under stable names (download-dir.ts): an interrupted fetch leaves its `.part` and
// journal, and the next one continues them; each part's files go once it is applied.
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FerryError } from '../../protocol/errors.js';
import type { BundlePart } from '../../protocol/job.js';
import { download } from '../download.js';
import { submitAndFollow, type GatewayClientLike } from '../job-follow.js';
import { applyBundle, indexPack, readBundleHeader } from './bundle-apply.js';
import { downloadPath, downloadsDir, prepareDownloads } from './download-dir.js';
import { GrowingFile } from './follow.js';
import { installIndexedPack } from './pack-install.js';
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
  /** Parts installed with the worker's pack index rather than indexed here (pack-install.ts). */
  indexedByWorker: number;
  /** Parts indexed while they downloaded (follow.ts), rather than after. */
  indexedWhileDownloading: number;
  /**
   * Everything came as one full bundle whose pack is self-contained and connected (index-pack checked, or
   * the trusted worker index): a clone may skip git's connectivity walk (`connectivity-ok`).
   */
  selfContained: boolean;
}

/** Most haves a bundle job accepts. */
export const MAX_HAVES = 1000;

export const REMOTE_CHANGED = 'the remote changed while fetching; run the command again';

export async function fetchThroughFerry(request: FetchRequest): Promise<FetchOutcome> {
  const outcome: FetchOutcome = { keepFiles: [], parts: 0, bytes: 0, indexedByWorker: 0, indexedWhileDownloading: 0, selfContained: false };
  // A second batch (git asking for tags after the branches) usually finds everything already here.
  if ((await missingObjects(request.wants)).length === 0) return outcome;

  const have = await localHaves();
  request.progress.detail(`asking the worker for a bundle of ${request.url} (${have.length} local objects as haves)`);
  const done = await submitAndFollow(request.client, { kind: 'bundle', url: request.url, have }, { onEvent: (event) => request.progress.job(event), signal: request.signal });
  const parts = done.parts ?? [];
  request.progress.detail(`${parts.length} bundle part(s), ${parts.reduce((sum, part) => sum + part.size, 0)} bytes${done.cached ? ' (cached)' : ''}`);

  if (parts.length > 0) {
    // Installing the worker's index means trusting it for object ids (nothing here hashes the objects): only
    // when the user says so, and never when fsckObjects asks git to check every object as it arrives.
    const { strict, trustIndex } = await fetchSettings();
    const useIndexes = !strict && trustIndex;
    const packDir = resolve((await runGit(['rev-parse', '--git-path', 'objects/pack'])).trim());
    const downloads = downloadsDir();
    await prepareDownloads(downloads);
    try {
      await downloadAndApply(parts, downloads, packDir, { ...request, useIndexes, strict }, outcome);
    } catch (error) {
      // The packs stay (harmless, gc drops what nothing reaches); their keeps must not outlive us.
      await Promise.all(outcome.keepFiles.map((file) => rm(file, { force: true })));
      throw error;
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

async function downloadAndApply(parts: BundlePart[], downloads: string, packDir: string, request: FetchRequest & { useIndexes: boolean; strict: boolean }, outcome: FetchOutcome): Promise<void> {
  const indexOf = (part: BundlePart): BundlePart['index'] => (request.useIndexes ? part.index : undefined);
  const total = parts.reduce((sum, part) => sum + part.size + (indexOf(part)?.size ?? 0), 0);
  const fetchFile = async (url: string, dest: string, expected: { size: number; sha256: string }, label: string, grew?: (contiguous: number) => void): Promise<string> => {
    const before = outcome.bytes;
    const result = await download({
      url,
      dest,
      sha256: expected.sha256,
      size: expected.size,
      signal: request.signal,
      onProgress: ({ bytes, contiguous }) => {
        grew?.(contiguous);
        request.progress.download(before + bytes, total);
      },
      onRetry: ({ bytes, reason }) => request.progress.detail(`download of ${label} interrupted at ${bytes} bytes (${reason}); resuming`),
    });
    outcome.bytes += result.size;
    return result.path;
  };
  // Each part needs the objects of the ones before it: downloaded and applied in the order given, each
  // indexed while it downloads (follow.ts) unless the worker's index is installed instead.
  for (const [number, part] of parts.entries()) {
    const label = `part ${number + 1}`;
    const dest = downloadPath(downloads, part.sha256, 'bundle');
    const index = indexOf(part);
    const options = { verbose: false, strict: request.strict, checkConnected: parts.length === 1 };
    // The download fills its file out of order: index-pack reads only what is contiguous from byte 0.
    const growing = index ? undefined : new GrowingFile(`${dest}.part`, dest, { watermark: true });
    const following = growing?.bundle((header, pack) => indexPack(header, pack, packDir, options), request.signal);
    // Settled now, looked at below: a failure here only means the finished file is indexed instead.
    const followed = following?.then((applied) => applied, () => undefined);
    let bundle: string;
    try {
      bundle = await fetchFile(part.url, dest, part, label, (contiguous) => growing?.grew(contiguous));
    } catch (error) {
      growing?.end();
      const orphan = await followed;
      if (orphan?.keep) await rm(orphan.keep, { force: true });
      throw error;
    }
    growing?.end();
    const indexFile = index && (await fetchFile(index.url, downloadPath(downloads, index.sha256, 'idx'), index, `${label}'s index`));
    if (number === parts.length - 1) request.progress.downloaded();
    // What index-pack read must be the very bytes the download checked; else the finished file is indexed.
    const followedApplied = await followed;
    const verified = followedApplied !== undefined && growing?.read.sha256 === part.sha256 && growing.read.bytes === part.size;
    if (followedApplied?.keep && !verified) await rm(followedApplied.keep, { force: true });
    const streamed = verified ? followedApplied : undefined;
    // Counted at once: whatever fails next, the caller releases every keep it knows.
    if (streamed?.keep) outcome.keepFiles.push(streamed.keep);
    if (streamed) outcome.indexedWhileDownloading++;
    const header = await readBundleHeader(bundle);
    const installed = indexFile ? await installIndexedPack(bundle, header, indexFile, packDir) : undefined;
    if (installed) outcome.indexedByWorker++;
    const whole = parts.length === 1 && header.prerequisites.length === 0;
    const applied = installed
      ? { keep: installed.keep, connected: whole }
      : (streamed ?? (await applyBundle(bundle, packDir, { ...options, verbose: request.gitProgress ?? false })));
    if (applied.keep && applied !== streamed) outcome.keepFiles.push(applied.keep);
    outcome.parts++;
    outcome.selfContained = applied.connected;
    // Applied: nothing of this part is worth keeping now (on a failure above, the files stay for the next run).
    await rm(bundle, { force: true });
    if (indexFile) await rm(indexFile, { force: true });
  }
  if (outcome.indexedByWorker > 0) request.progress.detail(`${outcome.indexedByWorker} pack(s) installed with the worker's index, without index-pack`);
  if (outcome.indexedWhileDownloading > 0) request.progress.detail(`${outcome.indexedWhileDownloading} of ${parts.length} part(s) indexed while downloading`);
}

/**
 * `strict`: fetch.fsckObjects, else transfer.fsckObjects, as git reads them for this repository.
 * `trustIndex`: FERRY_TRUST_INDEX, else git config ferry.trustIndex. One `git config` for all three.
 */
async function fetchSettings(): Promise<{ strict: boolean; trustIndex: boolean }> {
  const out = await runGit(['config', '--type=bool', '--get-regexp', '^(fetch|transfer)\\.fsckobjects$|^ferry\\.trustindex$']).catch(() => '');
  const config = new Map<string, boolean>();
  // Lines are `<key> <value>`, keys lower-cased; a key set twice ends with its last value, as git reads it.
  for (const line of out.split('\n')) {
    const [key, value] = line.split(' ');
    if (key) config.set(key, value === 'true');
  }
  const env = process.env.FERRY_TRUST_INDEX;
  return {
    strict: config.get('fetch.fsckobjects') ?? config.get('transfer.fsckobjects') ?? false,
    trustIndex: env !== undefined && env !== '' ? /^(1|true|yes|on)$/i.test(env) : (config.get('ferry.trustindex') ?? false),
  };
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
