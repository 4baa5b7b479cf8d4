import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import type { TreeFile } from './fixtures.js';

/** The files of a zip or tar.gz archive as git would list them: prefix stripped, sorted by path. */
export async function archiveFiles(file: string, format: 'zip' | 'tar.gz', prefix: string): Promise<TreeFile[]> {
  const files = format === 'zip' ? await zipFiles(file) : await tarFiles(file);
  const strip = `${prefix}/`;
  return files
    .map((f) => {
      if (!f.path.startsWith(strip)) throw new Error(`entry ${f.path} is outside the prefix ${strip}`);
      return { ...f, path: f.path.slice(strip.length) };
    })
    .sort(byPath);
}

/** Every file under `dir` as git would list it: path, mode, size, sha256 (symlinks: the target), sorted by path. */
export async function dirFiles(dir: string): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        await walk(path);
        continue;
      }
      const data = entry.isSymbolicLink() ? Buffer.from(await readlink(path)) : await readFile(path);
      files.push({ path: relative(dir, path), mode: modeOf((await lstat(path)).mode), size: data.length, sha256: sha256(data) });
    }
  };
  await walk(dir);
  return files.sort(byPath);
}

/** Sorts file lists the way `archiveFiles` and `dirFiles` return them. */
export const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function modeOf(unixMode: number): TreeFile['mode'] {
  if ((unixMode & 0o170000) === 0o120000) return '120000';
  return unixMode & 0o100 ? '100755' : '100644';
}

function zipFiles(file: string): Promise<TreeFile[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(file, { lazyEntries: true, decodeStrings: true }, (openError, zip) => {
      if (openError || !zip) return reject(openError ?? new Error('cannot open zip'));
      const files: TreeFile[] = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(files));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError || !stream) return reject(streamError ?? new Error('cannot read entry'));
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.on('error', reject);
          stream.on('end', () => {
            const data = Buffer.concat(chunks);
            files.push({ path: entry.fileName, mode: modeOf(entry.externalFileAttributes >>> 16), size: data.length, sha256: sha256(data) });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

async function tarFiles(file: string): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const pending: Promise<void>[] = [];
  const parser = new Parser({
    onReadEntry: (entry: ReadEntry) => {
      if (entry.type === 'SymbolicLink') {
        const target = Buffer.from(entry.linkpath ?? '');
        files.push({ path: entry.path, mode: '120000', size: target.length, sha256: sha256(target) });
        entry.resume();
        return;
      }
      if (entry.type !== 'File') {
        entry.resume();
        return;
      }
      pending.push(
        (async () => {
          const chunks: Buffer[] = [];
          for await (const chunk of entry) chunks.push(chunk as Buffer);
          const data = Buffer.concat(chunks);
          files.push({ path: entry.path, mode: modeOf(entry.mode ?? 0o644), size: data.length, sha256: sha256(data) });
        })(),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    createReadStream(file).pipe(createGunzip()).pipe(parser).on('end', resolve).on('error', reject);
    parser.on('close', resolve);
  });
  await Promise.all(pending);
  return files;
}
