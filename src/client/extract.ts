// Archives are hostile input: the first pass only reads names and refuses unsafe ones before a byte is
// written; symlinks are created last and only when they point inside the target. Everything lands in a
// temporary sibling directory renamed into place, so a failure leaves nothing half-written.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { FerryError } from '../protocol/errors.js';
import type { ArchiveFormat } from '../protocol/formats.js';
import { checkNoEntryBeneathSymlink, commonTopLevel } from './_entry-names.js';
import { SafeWriter } from './_safe-writer.js';
import { listTar, writeTar } from './_tar-extract.js';
import { listZip, writeZip } from './_zip-extract.js';
import { isEmptyOrMissing } from './empty-dir.js';


export interface ExtractOptions {
  /** Entries skipped but not fatal: symlinks pointing outside, hard links, devices. */
  onWarning?: (message: string) => void;
}

export interface ExtractResult {
  dir: string;
  files: number;
  stripped: string | undefined;
}

export async function extractArchive(file: string, format: ArchiveFormat, dir: string, options: ExtractOptions = {}): Promise<ExtractResult> {
  const target = resolve(dir);
  await assertEmptyOrMissing(target);

  const listed = format === 'zip' ? await listZip(file) : await listTar(file);
  const strip = commonTopLevel(listed);
  checkNoEntryBeneathSymlink(listed, strip);

  const work = join(dirname(target), `.${basename(target)}.ferry-${randomBytes(4).toString('hex')}`);
  await mkdir(work, { recursive: true });
  try {
    const writer = new SafeWriter(work, strip, options.onWarning ?? (() => undefined));
    if (format === 'zip') await writeZip(file, writer);
    else await writeTar(file, writer);
    await writer.finishSymlinks();
    await rmdir(target).catch(() => undefined); // empty, checked above
    await rename(work, target);
    return { dir: target, files: writer.files, stripped: strip };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    if (error instanceof FerryError) throw error;
    throw new FerryError('EXTRACT_FAILED', `Extracting ${basename(file)} failed: ${(error as Error).message}`, { cause: error });
  }
}

async function assertEmptyOrMissing(dir: string): Promise<void> {
  const empty = await isEmptyOrMissing(dir).catch((error: Error) => {
    throw new FerryError('EXTRACT_FAILED', `Cannot extract into ${dir}: ${error.message}`);
  });
  if (!empty) throw new FerryError('EXTRACT_FAILED', `Cannot extract into ${dir}: the directory is not empty. Choose a new --extract directory.`);
}
