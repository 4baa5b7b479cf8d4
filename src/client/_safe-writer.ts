// The second pass's only way to touch the disk: every path is checked again here, so neither archive
// reader can write outside the root.
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { checkEntryName, relativeName, unsafe } from './_entry-names.js';

export class SafeWriter {
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
    const targets = new Map(this.#links.map((link) => [link.path, link.target]));
    for (const { path, target, name } of this.#links) {
      if (this.#resolveInside(dirname(path), target, targets, 0) === undefined) {
        this.files--;
        this.skip(name, `symlink to ${target} points outside the directory`);
        continue;
      }
      await mkdir(dirname(path), { recursive: true });
      await symlink(target, path);
    }
  }

  #inside(path: string): boolean {
    return path === this.root || path.startsWith(this.root + sep);
  }

  // Follows the archive's own links the way the kernel walks a path, a link replaced before the next `..`:
  // with `d/l -> ..`, `m -> d/l/..` reads as `d` but leads to the root's parent. `undefined` when any step
  // leaves the root, or links loop.
  #resolveInside(from: string, target: string, links: ReadonlyMap<string, string>, depth: number): string | undefined {
    if (depth > 40 || target.startsWith('/') || target.includes('\0')) return undefined;
    let current = from;
    for (const segment of target.split('/')) {
      if (segment === '' || segment === '.') continue;
      current = segment === '..' ? dirname(current) : join(current, segment);
      if (!this.#inside(current)) return undefined;
      const link = links.get(current);
      if (link !== undefined) {
        const followed = this.#resolveInside(dirname(current), link, links, depth + 1);
        if (followed === undefined) return undefined;
        current = followed;
      }
    }
    return current;
  }
}
