/**
 * Unpack a downloaded zip or tar.gz into a directory, the way `git archive` output is meant to be read:
 * the single top-level `<repo>-<sha>/` folder is stripped, executable bits and symlinks are kept.
 * Archives are hostile input: two passes, the first only reads names and refuses absolute paths,
 * `..` segments and entries beneath a symlink (UNSAFE_ARCHIVE) before a byte is written; symlinks are
 * created last and only when they point inside the target. Everything lands in a temporary sibling
 * directory first, renamed into place at the end, so a failure leaves nothing half-written.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, rename, rm, rmdir, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { FerryError } from '../errors.js';
import type { ArchiveFormat } from '../git/archive.js';
import { isEmptyOrMissing } from './empty-dir.js';

export interface ExtractOptions {
  /** Entries skipped but not fatal: symlinks pointing outside, hard links, devices. */
  onWarning?: (message: string) => void;
}

export interface ExtractResult {
  dir: string;
  files: number;
  /** The top-level folder that was stripped, if there was exactly one. */
  stripped: string | undefined;
}

type Kind = 'dir' | 'file' | 'symlink' | 'other';

interface Listed {
  name: string;
  kind: Kind;
}

const MAX_LINK_TARGET = 4096;

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

/** Refuses names that could land outside the target: absolute, drive letters, `..`, NUL, backslashes. */
export function checkEntryName(name: string): void {
  const bad =
    name === '' || name.includes('\0') || name.includes('\\') || name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split('/').includes('..');
  if (bad) throw unsafe(`the entry "${name.slice(0, 200)}" would be written outside the target directory`);
}

function unsafe(why: string): FerryError {
  return new FerryError('UNSAFE_ARCHIVE', `Refusing to extract: ${why}. The archive is not what git archive produces.`);
}

async function assertEmptyOrMissing(dir: string): Promise<void> {
  const empty = await isEmptyOrMissing(dir).catch((error: Error) => {
    throw new FerryError('EXTRACT_FAILED', `Cannot extract into ${dir}: ${error.message}`);
  });
  if (!empty) throw new FerryError('EXTRACT_FAILED', `Cannot extract into ${dir}: the directory is not empty. Choose a new --extract directory.`);
}

/** The one first path segment every entry shares, when all other entries sit beneath it. */
function commonTopLevel(entries: Listed[]): string | undefined {
  let top: string | undefined;
  for (const { name, kind } of entries) {
    const [first = '', ...rest] = name.split('/').filter((s) => s !== '' && s !== '.');
    if (first === '') continue;
    if (rest.length === 0 && kind !== 'dir') return undefined; // a file at the top
    if (top === undefined) top = first;
    else if (top !== first) return undefined;
  }
  return top;
}

function relativeName(name: string, strip: string | undefined): string {
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (strip !== undefined && segments[0] === strip) segments.shift();
  return segments.join('/');
}

/** `link -> somewhere` followed by `link/file` would write through the link: never in git's output. */
function checkNoEntryBeneathSymlink(entries: Listed[], strip: string | undefined): void {
  const links = new Set(entries.filter((e) => e.kind === 'symlink').map((e) => relativeName(e.name, strip)));
  if (links.size === 0) return;
  for (const entry of entries) {
    const segments = relativeName(entry.name, strip).split('/');
    for (let i = 1; i < segments.length; i++) {
      if (links.has(segments.slice(0, i).join('/'))) throw unsafe(`the entry "${entry.name}" sits beneath a symlink`);
    }
  }
}

/** Writes entries into a fresh directory; files are created exclusively, symlinks deferred and checked. */
class SafeWriter {
  files = 0;
  readonly #links: { path: string; target: string; name: string }[] = [];

  constructor(
    private readonly root: string,
    private readonly strip: string | undefined,
    private readonly warn: (message: string) => void,
  ) {}

  /** Absolute path for an entry, or undefined for the stripped top-level folder itself. */
  pathFor(name: string): string | undefined {
    checkEntryName(name);
    const rel = relativeName(name, this.strip);
    if (rel === '') return undefined;
    const path = resolve(this.root, rel);
    if (!path.startsWith(this.root + sep)) throw unsafe(`the entry "${name}" would be written outside the target directory`);
    return path;
  }

  directory(name: string): void {
    const path = this.pathFor(name);
    if (path) mkdirSync(path, { recursive: true });
  }

  /** A write stream for a regular file (parents created); `wx` never follows or overwrites anything. */
  file(name: string, mode: number): NodeJS.WritableStream | undefined {
    const path = this.pathFor(name);
    if (!path) return undefined;
    mkdirSync(dirname(path), { recursive: true });
    this.files++;
    return createWriteStream(path, { flags: 'wx', mode: mode & 0o111 ? 0o755 : 0o644 });
  }

  symlink(name: string, target: string): void {
    const path = this.pathFor(name);
    if (!path) return;
    this.files++;
    this.#links.push({ path, target, name });
  }

  skip(name: string, why: string): void {
    this.warn(`skipped ${name}: ${why}`);
  }

  async finishSymlinks(): Promise<void> {
    for (const { path, target, name } of this.#links) {
      const resolved = resolve(dirname(path), target);
      const inside = !target.startsWith('/') && !target.includes('\0') && (resolved === this.root || resolved.startsWith(this.root + sep));
      if (!inside) {
        this.files--;
        this.skip(name, `symlink to ${target} points outside the directory`);
        continue;
      }
      await mkdir(dirname(path), { recursive: true });
      await symlink(target, path);
    }
  }
}

// --- zip (yauzl) ---------------------------------------------------------------------------------

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

async function listZip(file: string): Promise<Listed[]> {
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

async function writeZip(file: string, writer: SafeWriter): Promise<void> {
  await walkZip(file, async (entry, zip) => {
    const kind = zipKind(entry);
    if (kind === 'dir') return writer.directory(entry.fileName);
    if (kind === 'other') return writer.skip(entry.fileName, 'not a file, directory or symlink');
    const stream = await openZipStream(zip, entry);
    if (kind === 'symlink') {
      const chunks: Buffer[] = [];
      let length = 0;
      for await (const chunk of stream as AsyncIterable<Buffer>) {
        length += chunk.length;
        if (length > MAX_LINK_TARGET) throw unsafe(`the symlink "${entry.fileName}" has an overlong target`);
        chunks.push(chunk);
      }
      return writer.symlink(entry.fileName, Buffer.concat(chunks).toString('utf8'));
    }
    const out = writer.file(entry.fileName, entry.externalFileAttributes >>> 16);
    if (out) await pipeline(stream, out);
    else stream.resume();
  });
}

// --- tar.gz (tar's streaming Parser) --------------------------------------------------------------

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

async function listTar(file: string): Promise<Listed[]> {
  const listed: Listed[] = [];
  await walkTar(file, (entry) => {
    entry.resume();
    checkEntryName(entry.path);
    listed.push({ name: entry.path, kind: tarKind(entry) });
  });
  return listed;
}

async function writeTar(file: string, writer: SafeWriter): Promise<void> {
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
