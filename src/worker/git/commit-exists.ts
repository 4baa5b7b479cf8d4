// Does a repository have the object a full commit id names? ls-refs only lists tips, so this asks upload-pack
// itself. Protocol v2 takes a `want` of any object (wants "are not limited to advertised objects") and refuses one
// it does not have with `ERR upload-pack: not our ref <oid>`. With a `have` it cannot know and no `done`, a server
// that has the object answers an acknowledgments section (`NAK`) and sends no pack: one small round trip.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../../protocol/errors.js';
import type { GitContext } from './context.js';
import { gitFailure } from './errors.js';
import { pktLine, post, uploadPackUrl, usesProxy } from './ls-refs.js';
import { gitClient } from './simple-git.js';
import { pinRepo } from './pin.js';
import type { Pin } from '../net/destinations.js';
import type { RepoRef } from './url.js';

const FAST_PATH_TIMEOUT_MS = 10_000;
/** How servers say "no such object": git's upload-pack, and git's fetch relaying it or a v0 server's refusal. */
const MISSING = /not our ref|couldn't find remote ref|no such remote ref|unadvertised object/i;
/** A 64-digit id asked of a SHA-1 repository (or the reverse): no object there can have it. */
const OTHER_FORMAT = /mismatched (?:object format|algorithms)/i;

/** Resolves when `repo` has `commit`; rejects with REF_NOT_FOUND when it does not, or with the listing failure. */
export async function assertCommitExists(repo: RepoRef, commit: string, git: GitContext): Promise<void> {
  const pin = await pinRepo(repo, git, `Checking commit ${commit} of ${repo.canonical}`);
  const fast = repo.protocol === 'https' || git.allowHttp ? await probe(repo.fetchUrl, commit, git, pin, repo.access?.authorization()) : undefined;
  const verdict = fast ?? (await probeWithGit(repo, commit, git, pin));
  if (verdict === 'missing') {
    throw new FerryError('REF_NOT_FOUND', `Commit ${commit} does not exist in ${repo.canonical}: check the id, or name a branch or tag.`);
  }
}

type Verdict = 'exists' | 'missing';

/** The in-process request; `undefined` for anything but the two answers above (then git decides). */
async function probe(fetchUrl: string, commit: string, git: GitContext, pin: Pin, authorization: string | undefined): Promise<Verdict | undefined> {
  if (usesProxy(git.processEnv)) return undefined;
  const url = uploadPackUrl(fetchUrl);
  if (!url) return undefined;
  // A have of all zeros: no object has that id, so the server cannot be "ready" and sends no pack.
  const zero = '0'.repeat(commit.length);
  const body = Buffer.concat([
    pktLine('command=fetch\n'),
    ...(commit.length === 64 ? [pktLine('object-format=sha256\n')] : []),
    Buffer.from('0001'),
    pktLine(`want ${commit}\n`),
    pktLine(`have ${zero}\n`),
    Buffer.from('0000'),
  ]);
  const options = { timeoutMs: Math.min(git.timeoutMs, FAST_PATH_TIMEOUT_MS), agents: git.agents, env: git.processEnv, lookup: pin.lookup, authorization };
  let response = await post(url, body, options);
  if (response === 'stale') response = await post(url, body, options);
  if (!Buffer.isBuffer(response)) return undefined;
  const first = firstPacket(response);
  if (first === 'acknowledgments') return 'exists';
  if (first?.startsWith('ERR ') && MISSING.test(first)) return 'missing';
  return undefined;
}

/** The first pkt-line's text without its newline; `undefined` if the answer does not start with one. */
function firstPacket(body: Buffer): string | undefined {
  const header = body.toString('latin1', 0, 4);
  if (!/^[0-9a-f]{4}$/i.test(header)) return undefined;
  const length = Number.parseInt(header, 16);
  if (length <= 4 || length > body.length) return undefined;
  return body.toString('utf8', 4, length).replace(/\n$/, '');
}

/**
 * Behind a proxy, over plain http not allowed in-process, or from a server that answered something else: git
 * fetches the one commit (depth 1, no trees or blobs where the server filters) into a bare repository that is
 * thrown away. Slower than the probe, but it is exactly the fetch the job would make.
 */
async function probeWithGit(repo: RepoRef, commit: string, context: GitContext, pin: Pin): Promise<Verdict> {
  await context.assertSupportedGit();
  const dir = await mkdtemp(join(tmpdir(), 'ferry-commit-check-'));
  try {
    const git = gitClient({ git: context, baseDir: dir, pin, access: repo.access });
    await git.raw(['init', '--bare', '--quiet', ...(commit.length === 64 ? ['--object-format=sha256'] : [])]);
    try {
      await git.raw(['fetch', '--depth=1', '--filter=tree:0', '--no-tags', '--no-write-fetch-head', '--', repo.fetchUrl, commit]);
    } catch (error) {
      const message = String((error as Error).message);
      if (MISSING.test(message) || OTHER_FORMAT.test(message)) return 'missing';
      throw gitFailure(message, `Checking commit ${commit} of ${repo.canonical}`, error, repo.host);
    }
    return 'exists';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
