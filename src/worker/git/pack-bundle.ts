import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathExists } from '../../util/path-exists.js';
import type { ArchiveStream } from './archive.js';

/*
 * A full bundle without packing anything. A bundle is a header (the refs it carries, no prerequisites)
 * followed by a pack; a mirror just cloned from upstream holds one complete pack (fetched packs are never
 * thin once stored) with every object its refs reach, and nothing else. That pack behind a v2 header is
 * a valid full bundle, and streaming it costs a file read instead of `git bundle create` enumerating and
 * writing the whole history again — the larger part of a cold clone's build. The pack's index comes
 * along: a client that installs it skips `git index-pack`, the larger part of a clone's own time.
 * Anything else (loose objects, several packs from seeding or later fetches, alternates, a promisor
 * pack) falls back to `git bundle create`: then the one pack may not hold everything, or holds much more.
 */
export interface PackBundle extends ArchiveStream {
  /** The pack's index as git wrote it in the mirror, opened with the pack: a client can install it as is. */
  index(): Readable;
}

export async function singlePackBundle(gitDir: string, tips: Readonly<Record<string, string>>): Promise<PackBundle | undefined> {
  const pack = await soleCompletePack(gitDir);
  if (!pack || Object.keys(tips).length === 0) return undefined;
  // Both opened now: a later repack may unlink the files, never the data of an open descriptor.
  const packFile = await open(pack);
  const indexFile = await open(pack.replace(/\.pack$/, '.idx')).catch(async (error: unknown) => {
    await packFile.close();
    throw error;
  });
  const header = `# v2 git bundle\n${Object.entries(tips).map(([name, oid]) => `${oid} ${name}\n`).join('')}\n`;
  const out = new PassThrough();
  const abort = new AbortController();
  out.write(header);
  const done = pipeline(packFile.createReadStream(), out, { signal: abort.signal });
  // The upload reads `out`; a failure reaches it through `done`, which must never go unhandled meanwhile.
  done.catch(() => undefined);
  let indexStream: Readable | undefined;
  return {
    stdout: out,
    pid: undefined,
    done,
    kill: () => {
      abort.abort();
      indexStream?.destroy();
      if (!indexStream) void indexFile.close();
    },
    index: () => (indexStream ??= indexFile.createReadStream()),
  };
}

/** The path of the mirror's only pack, when it is the whole object store; else undefined. */
async function soleCompletePack(gitDir: string): Promise<string | undefined> {
  const objects = join(gitDir, 'objects');
  if (await pathExists(join(objects, 'info', 'alternates'))) return undefined;
  const packFiles = await readdir(join(objects, 'pack')).catch(() => [] as string[]);
  const packs = packFiles.filter((name) => name.endsWith('.pack'));
  if (packs.length !== 1 || packFiles.some((name) => name.endsWith('.promisor'))) return undefined;
  const pack = packs[0] as string;
  if (!packFiles.includes(pack.replace(/\.pack$/, '.idx'))) return undefined;
  // Loose objects live in two-hex-digit folders: a fetch below unpackLimit writes them there.
  for (const entry of await readdir(objects, { withFileTypes: true })) {
    if (entry.isDirectory() && /^[0-9a-f]{2}$/.test(entry.name) && (await readdir(join(objects, entry.name))).length > 0) return undefined;
  }
  return join(objects, 'pack', pack);
}
