/**
 * extract.ts on real `git archive` output (modes, symlink, top-level folder stripped) and on small
 * hand-made hostile archives: zip-slip, absolute paths, symlinks pointing out, entries beneath a symlink.
 */
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extractArchive } from '../../src/client/extract.js';
import { FerryError } from '../../src/protocol/errors.js';
import { byPath, dirFiles } from '../helpers/archive-files.js';
import { fixtureRoot, git, gitArchiveFiles, gitRevParse } from '../helpers/fixtures.js';

let work: string;
let basicDir: string;
let main: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-extract-'));
  basicDir = join(await fixtureRoot(), 'fixtures/basic.git');
  main = await gitRevParse(basicDir, 'main');
});
afterAll(() => rm(work, { recursive: true, force: true }));

interface Entry {
  name: string;
  data?: string;
  /** Unix mode including the type bits; default a 0644 file (or a directory for names ending in /). */
  mode?: number;
}

/** A stored (uncompressed) zip with Unix modes in the external attributes, as git archive writes them. */
function makeZip(entries: Entry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name);
    const data = Buffer.from(entry.data ?? '');
    const mode = entry.mode ?? (entry.name.endsWith('/') ? 0o040755 : 0o100644);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, data);
    centrals.push(central, name);
    offset += local.length + name.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

interface TarEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  data?: string;
  linkpath?: string;
  mode?: number;
}

function makeTarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const data = Buffer.from(entry.data ?? '');
    const type = entry.type ?? 'File';
    const header = new Header({ path: entry.path, type, mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644), size: type === 'File' ? data.length : 0, linkpath: entry.linkpath ?? '', mtime: new Date(0) });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && data.length > 0) blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

async function write(name: string, data: Buffer): Promise<string> {
  const path = join(work, name);
  await writeFile(path, data);
  return path;
}

async function expectUnsafe(promise: Promise<unknown>): Promise<void> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FerryError);
  expect((error as FerryError).code).toBe('UNSAFE_ARCHIVE');
}

describe('extract git archive output', () => {
  it.each(['zip', 'tar.gz'] as const)('%s: exactly the repository\'s files, top folder stripped, modes and symlink kept', async (format) => {
    const file = join(work, `basic.${format}`);
    await git(['-C', basicDir, 'archive', `--format=${format}`, `--prefix=basic-${main.slice(0, 7)}/`, '-o', file, main]);
    const dir = join(work, `out-${format}`);
    const result = await extractArchive(file, format, dir);
    expect(result).toMatchObject({ dir, stripped: `basic-${main.slice(0, 7)}` });
    const expected = (await gitArchiveFiles(basicDir, main)).sort(byPath);
    expect(await dirFiles(dir)).toEqual(expected);
    expect(result.files).toBe(expected.length);
    expect(await readlink(join(dir, 'link-to-readme'))).toBe('README.md');
  });

  it('refuses a target directory that is not empty', async () => {
    const dir = join(work, 'busy');
    await mkdir(dir);
    await writeFile(join(dir, 'mine.txt'), 'keep me');
    const zip = await write('ok.zip', makeZip([{ name: 'top/' }, { name: 'top/a.txt', data: 'a' }]));
    await expect(extractArchive(zip, 'zip', dir)).rejects.toMatchObject({ code: 'EXTRACT_FAILED' });
    expect(await readFile(join(dir, 'mine.txt'), 'utf8')).toBe('keep me');
  });
});

describe('hostile zip', () => {
  it.each([
    ['a ../ entry (zip-slip)', [{ name: 'top/' }, { name: 'top/ok.txt', data: 'ok' }, { name: 'top/../../evil.txt', data: 'pwned' }]],
    ['a leading ../', [{ name: '../evil.txt', data: 'pwned' }]],
    ['an absolute path', [{ name: '/tmp/evil.txt', data: 'pwned' }]],
    ['an entry beneath a symlink', [{ name: 'top/' }, { name: 'top/link', data: '.', mode: 0o120777 }, { name: 'top/link/x.txt', data: 'pwned' }]],
  ])('refuses %s and writes nothing', async (_what, entries) => {
    const zip = await write('evil.zip', makeZip(entries));
    const dir = join(work, 'zip-target', 'inner');
    await expectUnsafe(extractArchive(zip, 'zip', dir));
    await expect(readdir(join(work, 'zip-target')).catch(() => [])).resolves.toEqual([]);
    await expect(lstat(join(work, 'evil.txt'))).rejects.toThrow();
  });

  it('skips a symlink pointing outside (with a warning) and keeps one pointing inside', async () => {
    const zip = await write('links.zip', makeZip([
      { name: 'top/' },
      { name: 'top/a.txt', data: 'a' },
      { name: 'top/inside', data: 'a.txt', mode: 0o120777 },
      { name: 'top/outside', data: '../../../etc/passwd', mode: 0o120777 },
      { name: 'top/absolute', data: '/etc/passwd', mode: 0o120777 },
      { name: 'top/run', data: '#!/bin/sh\n', mode: 0o100755 },
    ]));
    const warnings: string[] = [];
    const dir = join(work, 'links');
    const result = await extractArchive(zip, 'zip', dir, { onWarning: (m) => warnings.push(m) });
    expect((await readdir(dir)).sort()).toEqual(['a.txt', 'inside', 'run']);
    expect(await readlink(join(dir, 'inside'))).toBe('a.txt');
    expect((await lstat(join(dir, 'run'))).mode & 0o777).toBe(0o755);
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/outside.*points outside/);
    expect(result.files).toBe(3);
  });
});

describe('hostile tar.gz', () => {
  it.each([
    ['a ../ entry', [{ path: 'top/', type: 'Directory' }, { path: 'top/../../evil.txt', data: 'pwned' }]],
    ['an absolute path', [{ path: '/tmp/evil.txt', data: 'pwned' }]],
    ['an entry beneath a symlink', [{ path: 'top/', type: 'Directory' }, { path: 'top/link', type: 'SymbolicLink', linkpath: '/tmp' }, { path: 'top/link/x.txt', data: 'pwned' }]],
  ] as [string, TarEntry[]][])('refuses %s and writes nothing', async (_what, entries) => {
    const file = await write('evil.tar.gz', makeTarGz(entries));
    const dir = join(work, 'tar-target', 'inner');
    await expectUnsafe(extractArchive(file, 'tar.gz', dir));
    await expect(readdir(join(work, 'tar-target')).catch(() => [])).resolves.toEqual([]);
  });

  it('skips hard links and outside symlinks, keeps the rest', async () => {
    const file = await write('links.tar.gz', makeTarGz([
      { path: 'top/', type: 'Directory' },
      { path: 'top/a.txt', data: 'a' },
      { path: 'top/hard', type: 'Link', linkpath: '/etc/passwd' },
      { path: 'top/out', type: 'SymbolicLink', linkpath: '../x' },
      { path: 'top/in', type: 'SymbolicLink', linkpath: 'a.txt' },
    ]));
    const warnings: string[] = [];
    const dir = join(work, 'tar-links');
    await extractArchive(file, 'tar.gz', dir, { onWarning: (m) => warnings.push(m) });
    expect((await readdir(dir)).sort()).toEqual(['a.txt', 'in']);
    expect(warnings).toHaveLength(2);
  });

  it('skips links that escape only through another link (d/l -> .., m -> d/l/..), and loops', async () => {
    const file = await write('chain.tar.gz', makeTarGz([
      { path: 'top/', type: 'Directory' },
      { path: 'top/d/', type: 'Directory' },
      { path: 'top/d/a.txt', data: 'a' },
      { path: 'top/d/l', type: 'SymbolicLink', linkpath: '..' }, // the root itself: inside, kept
      { path: 'top/m', type: 'SymbolicLink', linkpath: 'd/l/..' }, // reads as `d`, leads to the root's parent
      { path: 'top/n', type: 'SymbolicLink', linkpath: 'd/l/d/a.txt' }, // through the link, still inside: kept
      { path: 'top/p', type: 'SymbolicLink', linkpath: 'q' },
      { path: 'top/q', type: 'SymbolicLink', linkpath: 'p' }, // a loop
    ]));
    const warnings: string[] = [];
    const dir = join(work, 'tar-chain');
    await extractArchive(file, 'tar.gz', dir, { onWarning: (m) => warnings.push(m) });
    expect((await readdir(dir)).sort()).toEqual(['d', 'n']);
    expect(await readlink(join(dir, 'd/l'))).toBe('..');
    expect(await readFile(join(dir, 'n'), 'utf8')).toBe('a');
    expect(warnings.sort()).toEqual([
      expect.stringMatching(/^skipped top\/m: symlink to d\/l\/\.\. points outside/),
      expect.stringMatching(/^skipped top\/p: /),
      expect.stringMatching(/^skipped top\/q: /),
    ]);
  });

  it('a damaged archive fails with EXTRACT_FAILED and leaves nothing behind', async () => {
    const good = makeTarGz([{ path: 'top/a.txt', data: 'x'.repeat(5000) }]);
    const file = await write('broken.tar.gz', good.subarray(0, good.length - 20));
    const dir = join(work, 'broken');
    await expect(extractArchive(file, 'tar.gz', dir)).rejects.toMatchObject({ code: 'EXTRACT_FAILED' });
    expect((await readdir(work)).filter((n) => n.includes('.ferry-'))).toEqual([]);
  });
});
