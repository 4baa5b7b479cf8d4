// A git bundle is a text header (`# v2 git bundle` or `# v3 git bundle`, `@capability` lines for v3,
// `-<oid>` prerequisites, `<oid> <ref>` tips, a blank line) followed by a thin pack. The pack goes
// straight to `git index-pack --fix-thin --keep`, which `git bundle unbundle` cannot do: the kept pack is
// how the helper protects new objects until git has updated the refs (`lock <file>`).
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../../protocol/errors.js';
import { missingObjects } from './git.js';

export interface BundleHeader {
  version: 2 | 3;
  prerequisites: string[];
  tips: { oid: string; name: string }[];
  /** Bytes before the pack. */
  length: number;
}

const SIGNATURES: Record<string, 2 | 3> = { '# v2 git bundle': 2, '# v3 git bundle': 3 };
// Generous for thousands of refs, yet a corrupt file cannot make us read it whole looking for the end.
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export function parseBundleHeader(bytes: Buffer): BundleHeader | undefined {
  const end = bytes.indexOf('\n\n');
  if (end < 0) return undefined;
  const [signature, ...lines] = bytes.subarray(0, end).toString('utf8').split('\n');
  const version = SIGNATURES[signature ?? ''];
  if (version === undefined) throw badBundle(`it does not start with a v2 or v3 bundle signature`);
  const header: BundleHeader = { version, prerequisites: [], tips: [], length: end + 2 };
  for (const line of lines) {
    if (version === 3 && line.startsWith('@')) {
      // object-format=sha1 is what every repository ferry serves uses; a filter would mean missing objects.
      if (line !== '@object-format=sha1') throw badBundle(`it needs the capability "${line.slice(1)}"`);
      continue;
    }
    const prerequisite = /^-([0-9a-f]{40})(?: .*)?$/.exec(line);
    if (prerequisite) {
      header.prerequisites.push(prerequisite[1] as string);
      continue;
    }
    const tip = /^([0-9a-f]{40}) (\S+)$/.exec(line);
    if (!tip) throw badBundle(`its header has the line "${line.slice(0, 100)}"`);
    header.tips.push({ oid: tip[1] as string, name: tip[2] as string });
  }
  return header;
}

export async function readBundleHeader(path: string): Promise<BundleHeader> {
  const file = await open(path, 'r');
  try {
    let bytes = Buffer.alloc(0);
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await file.read(chunk, 0, chunk.length, bytes.length);
      if (bytesRead === 0) throw badBundle('it ends before its header does');
      bytes = Buffer.concat([bytes, chunk.subarray(0, bytesRead)]);
      const header = parseBundleHeader(bytes);
      if (header) return header;
      if (bytes.length > MAX_HEADER_BYTES) throw badBundle('its header never ends');
    }
  } finally {
    await file.close();
  }
}

export interface ApplyOptions {
  verbose: boolean;
  /** Check every object as git's fsckObjects does (`--strict`). */
  strict?: boolean;
  /** Ask index-pack whether the pack alone is self-contained and connected (a whole clone in one part). */
  checkConnected?: boolean;
}

export interface Applied {
  /** The `.keep` file's path; undefined when the very same pack was already there (index-pack then writes none). */
  keep: string | undefined;
  /** index-pack found every object the pack's objects refer to inside it (only with `checkConnected`). */
  connected: boolean;
}

/** Indexes the bundle's pack (a complete file) into `packDir` and keeps it. */
export async function applyBundle(path: string, packDir: string, options: ApplyOptions): Promise<Applied> {
  const header = await readBundleHeader(path);
  return indexPack(header, createReadStream(path, { start: header.length }), packDir, options);
}

/**
 * Indexes a pack into `packDir` and keeps it, from any source of its bytes (a file, or one still being
 * downloaded: see follow.ts). The header's prerequisites must be here first.
 */
export async function indexPack(header: BundleHeader, pack: AsyncIterable<Buffer>, packDir: string, options: ApplyOptions): Promise<Applied> {
  const missing = await missingObjects(header.prerequisites);
  if (missing.length > 0) {
    throw new FerryError('GIT_FAILED', `The bundle needs commit ${missing[0]}, which this repository does not have; run the command again.`);
  }
  const checkConnected = options.checkConnected === true && header.prerequisites.length === 0;
  const args = [
    'index-pack', '--stdin', '--fix-thin', `--keep=ferry fetch ${process.pid}`,
    ...(options.strict ? ['--strict'] : []), ...(checkConnected ? ['--check-self-contained-and-connected'] : []), ...(options.verbose ? ['-v'] : []),
  ];
  const before = new Set(await readdir(packDir).catch(() => [] as string[]));
  const child = spawn('git', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    // Its progress ("Receiving objects", "Resolving deltas") is shown as it comes; the tail explains a failure.
    if (options.verbose) process.stderr.write(text);
    stderr = (stderr + text).slice(-4096);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  // A failing index-pack closes its stdin early; its exit status is the error worth reporting. A source
  // that fails (a download that broke off) ends index-pack's input short, which it reports too.
  await pipeline(Readable.from(pack), child.stdin).catch(() => child.stdin.destroy());
  const code = await exited;
  // index-pack prints `keep\t<hash>` when it wrote the .keep file, `pack\t<hash>` otherwise.
  const kept = /^(keep|pack)\t([0-9a-f]{40,64})$/m.exec(stdout);
  // With --check-self-contained-and-connected, exit 1 after a written pack means "not self-contained".
  const notConnected = checkConnected && code === 1 && kept !== null;
  if ((code !== 0 && !notConnected) || !kept) {
    // A dead index-pack leaves its tmp_pack_* behind (git prunes them only after weeks), and one that failed
    // its last check (--strict) its .keep: neither may outlive the failure.
    const left = (await readdir(packDir).catch(() => [] as string[])).filter((name) => !before.has(name) && (name.startsWith('tmp_') || name.endsWith('.keep')));
    await Promise.all(left.map((name) => rm(join(packDir, name), { force: true })));
    const why = stderr.trim().split('\n').at(-1) || `exit ${code}`;
    throw new FerryError('GIT_FAILED', `git index-pack could not apply the bundle: ${why}`);
  }
  return { keep: kept[1] === 'keep' ? join(packDir, `pack-${kept[2]}.keep`) : undefined, connected: checkConnected && code === 0 };
}

function badBundle(why: string): FerryError {
  return new FerryError('GIT_FAILED', `The downloaded bundle is not usable: ${why}.`);
}
