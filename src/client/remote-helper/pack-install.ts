// A full bundle whose part carries the pack's index (BundlePart.index) is installed as it is: the pack
// bytes after the header become objects/pack/pack-<checksum>.pack beside the index the worker's git
// wrote for exactly that pack. `git index-pack` — hashing and resolving every object, most of a large
// clone's time on the client — is skipped; both files are sha256-checked downloads of what the worker
// built from a mirror git itself fetched and verified.
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathExists } from '../../util/path-exists.js';
import type { BundleHeader } from './bundle-apply.js';

const HASH_BYTES = 20; // sha1: the only object format ferry serves (bundle-apply.ts)
const IDX_V2_MAGIC = Buffer.from([0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]);

/**
 * Installs the bundle's pack with `indexPath`; returns the `.keep` that protects it until git has updated
 * the refs, or undefined when the same pack is already installed. Undefined too, with nothing written,
 * when the index is not a v2 index of this very pack (then the caller indexes the pack itself).
 */
export async function installIndexedPack(bundlePath: string, header: BundleHeader, indexPath: string, packDir: string): Promise<{ keep: string | undefined } | undefined> {
  if (header.prerequisites.length > 0) return undefined; // a thin pack needs index-pack --fix-thin
  const checksum = await packChecksum(bundlePath, header.length);
  if (!checksum || !(await indexMatches(indexPath, checksum))) return undefined;
  const base = join(packDir, `pack-${checksum.toString('hex')}`);
  if (await pathExists(`${base}.idx`)) return { keep: undefined };

  // The keep first: from the moment the pack is visible, nothing (gc) may drop it before the refs exist.
  const keep = `${base}.keep`;
  await writeFile(keep, `ferry fetch ${process.pid}\n`);
  const temp = `${base}.ferry-${process.pid}`;
  try {
    // As git does: the pack, then its index, each renamed into place whole.
    await pipeline(createReadStream(bundlePath, { start: header.length }), createWriteStream(`${temp}.pack`, { mode: 0o444 }));
    await rename(`${temp}.pack`, `${base}.pack`);
    await pipeline(createReadStream(indexPath), createWriteStream(`${temp}.idx`, { mode: 0o444 }));
    await rename(`${temp}.idx`, `${base}.idx`);
    return { keep };
  } catch (error) {
    await Promise.all([rm(`${temp}.pack`, { force: true }), rm(`${temp}.idx`, { force: true }), rm(`${base}.pack`, { force: true }), rm(keep, { force: true })]);
    throw error;
  }
}

/** The pack's trailing checksum (the name git gives it), after checking it is a pack at all. */
async function packChecksum(bundlePath: string, packStart: number): Promise<Buffer | undefined> {
  const file = await open(bundlePath, 'r');
  try {
    const { size } = await file.stat();
    if (size - packStart < 12 + HASH_BYTES) return undefined;
    const signature = Buffer.alloc(4);
    await file.read(signature, 0, 4, packStart);
    if (signature.toString('latin1') !== 'PACK') return undefined;
    const checksum = Buffer.alloc(HASH_BYTES);
    await file.read(checksum, 0, HASH_BYTES, size - HASH_BYTES);
    return checksum;
  } finally {
    await file.close();
  }
}

/** A v2 `.idx` ends with the checksum of the pack it indexes, then its own. */
async function indexMatches(indexPath: string, checksum: Buffer): Promise<boolean> {
  const file = await open(indexPath, 'r');
  try {
    const { size } = await file.stat();
    if (size < IDX_V2_MAGIC.length + 256 * 4 + 2 * HASH_BYTES) return false;
    const magic = Buffer.alloc(IDX_V2_MAGIC.length);
    await file.read(magic, 0, magic.length, 0);
    const recorded = Buffer.alloc(HASH_BYTES);
    await file.read(recorded, 0, HASH_BYTES, size - 2 * HASH_BYTES);
    return magic.equals(IDX_V2_MAGIC) && recorded.equals(checksum);
  } finally {
    await file.close();
  }
}
