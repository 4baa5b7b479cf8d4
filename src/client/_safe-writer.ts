/**
 * The second pass's only way to touch the disk: every entry's path is checked again here, so neither
 * archive reader can write outside the root. Files are created exclusively, symlinks deferred and checked.
 */
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { checkEntryName, relativeName, unsafe } from './_entry-names.js';

/** Writes entries into a fresh directory; files are created exclusively, symlinks deferred and checked. */
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
