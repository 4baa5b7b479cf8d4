import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { FerryError } from '../protocol/errors.js';
import { checkEntryName, type Kind, type Listed } from './_entry-names.js';
import type { SafeWriter } from './_safe-writer.js';

function tarKind(entry: ReadEntry): Kind {
  switch (entry.type) {
    case 'Directory':
      return 'dir';
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'SymbolicLink':
      return 'symlink';
    default:
      return 'other';
  }
}

/** Runs one pass over the archive; `onEntry` must consume or resume each entry and may return a promise. */
async function walkTar(file: string, onEntry: (entry: ReadEntry) => Promise<void> | void): Promise<void> {
  const pending: Promise<void>[] = [];
  let failure: unknown;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      try {
        const result = onEntry(entry);
        if (result) pending.push(result.catch((error: unknown) => void (failure ??= error)));
      } catch (error) {
        failure ??= error;
        entry.resume();
      }
    },
  });
  try {
    await pipeline(createReadStream(file), createGunzip(), parser as unknown as NodeJS.WritableStream);
  } catch (error) {
    failure ??= new FerryError('EXTRACT_FAILED', `The tar.gz file is damaged: ${(error as Error).message}`, { cause: error });
  }
  await Promise.all(pending);
  if (failure) throw failure;
}

export async function listTar(file: string): Promise<Listed[]> {
  const listed: Listed[] = [];
  await walkTar(file, (entry) => {
    entry.resume();
    checkEntryName(entry.path);
    listed.push({ name: entry.path, kind: tarKind(entry) });
  });
  return listed;
}

export async function writeTar(file: string, writer: SafeWriter): Promise<void> {
  await walkTar(file, (entry) => {
    const kind = tarKind(entry);
    if (kind !== 'file') entry.resume();
    if (kind === 'dir') return writer.directory(entry.path);
    if (kind === 'symlink') return writer.symlink(entry.path, entry.linkpath ?? '');
    if (kind === 'other') return writer.skip(entry.path, `a ${entry.type} entry is not extracted`);
    const out = writer.file(entry.path, entry.mode ?? 0o644);
    if (!out) return void entry.resume();
    return pipeline(entry as unknown as Readable, out);
  });
}
