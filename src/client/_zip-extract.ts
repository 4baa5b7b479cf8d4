import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { FerryError } from '../protocol/errors.js';
import { checkEntryName, unsafe, type Kind, type Listed } from './_entry-names.js';
import type { SafeWriter } from './_safe-writer.js';
import { BodyTooLargeError, readBody } from '../util/body.js';

const MAX_LINK_TARGET = 4096;

function zipKind(entry: yauzl.Entry): Kind {
  if (entry.fileName.endsWith('/')) return 'dir';
  const type = (entry.externalFileAttributes >>> 16) & 0o170000;
  if (type === 0o120000) return 'symlink';
  if (type === 0 || type === 0o100000) return 'file';
  return type === 0o040000 ? 'dir' : 'other';
}

/** Calls `onEntry` for each entry in order, one at a time. yauzl's own name checks become UNSAFE_ARCHIVE. */
function walkZip(file: string, onEntry: (entry: yauzl.Entry, zip: yauzl.ZipFile) => Promise<void>): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    yauzl.open(file, { lazyEntries: true, decodeStrings: true, validateEntrySizes: true }, (openError, zip) => {
      if (openError || !zip) return reject(zipError(openError));
      let failed = false;
      const fail = (error: unknown): void => {
        if (failed) return;
        failed = true;
        zip.close();
        reject(zipError(error));
      };
      zip.on('error', fail);
      zip.on('end', () => !failed && resolvePromise());
      zip.on('entry', (entry: yauzl.Entry) => {
        onEntry(entry, zip).then(() => !failed && zip.readEntry(), fail);
      });
      zip.readEntry();
    });
  });
}

function zipError(error: unknown): Error {
  if (error instanceof FerryError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/^(invalid relative path|absolute path|invalid characters in fileName)/.test(message)) return unsafe(message);
  return new FerryError('EXTRACT_FAILED', `The zip file is damaged: ${message}`, { cause: error });
}

export async function listZip(file: string): Promise<Listed[]> {
  const listed: Listed[] = [];
  await walkZip(file, async (entry) => {
    checkEntryName(entry.fileName);
    listed.push({ name: entry.fileName, kind: zipKind(entry) });
  });
  return listed;
}

function openZipStream(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolvePromise, reject) => {
    zip.openReadStream(entry, (error, stream) => (error || !stream ? reject(error ?? new Error('no stream')) : resolvePromise(stream)));
  });
}

export async function writeZip(file: string, writer: SafeWriter): Promise<void> {
  await walkZip(file, async (entry, zip) => {
    const kind = zipKind(entry);
    if (kind === 'dir') return writer.directory(entry.fileName);
    if (kind === 'other') return writer.skip(entry.fileName, 'not a file, directory or symlink');
    const stream = await openZipStream(zip, entry);
    if (kind === 'symlink') {
      const target = await readBody(stream, MAX_LINK_TARGET).catch((error: unknown) => {
        throw error instanceof BodyTooLargeError ? unsafe(`the symlink "${entry.fileName}" has an overlong target`) : error;
      });
      return writer.symlink(entry.fileName, target.toString('utf8'));
    }
    const out = writer.file(entry.fileName, entry.externalFileAttributes >>> 16);
    if (out) await pipeline(stream, out);
    else stream.resume();
  });
}
