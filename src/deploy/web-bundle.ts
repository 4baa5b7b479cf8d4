// The compiled protocol modules sit under the same paths the local gateway serves them, so the page's
// relative imports resolve the same on any host. Reaching a module that needs Node is an error: the
// browser could not load it.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';

export interface WebBundle {
  outDir: string;
  files: string[];
}

/** Not part of the site: the page's typecheck settings. */
const SKIP = new Set(['tsconfig.json']);
/** Specifiers in `import … from '…'`, `export … from '…'` and `import('…')`. */
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** Writes the site into `outDir` from `projectDir`'s `web/` and built `dist/` (run `npm run build` first). */
export async function writeWebBundle(projectDir: string, outDir: string): Promise<WebBundle> {
  const webDir = join(projectDir, 'web');
  const distDir = join(projectDir, 'dist');
  const files: string[] = [];
  const queue: string[] = [];
  await mkdir(outDir, { recursive: true });
  for (const entry of await readdir(webDir, { withFileTypes: true })) {
    if (!entry.isFile() || SKIP.has(entry.name)) continue;
    await copyFile(join(webDir, entry.name), join(outDir, entry.name));
    files.push(entry.name);
    if (entry.name.endsWith('.js')) queue.push(...importsOf(entry.name, await readFile(join(webDir, entry.name), 'utf8')));
  }
  const copied = new Set<string>();
  for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
    if (copied.has(path)) continue;
    copied.add(path);
    // The page's own folder may not shadow a compiled module: the gateway serves dist/ under these names.
    const source = await readFile(join(distDir, path), 'utf8').catch(() => {
      throw new Error(`The page imports ${path}, which is not in dist/. Run npm run build first.`);
    });
    queue.push(...importsOf(path, source));
    await mkdir(join(outDir, dirname(path)), { recursive: true });
    // Without its map (not shipped), the comment would only make browsers ask for a missing file.
    await writeFile(join(outDir, path), source.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
    files.push(path);
  }
  return { outDir, files: files.sort() };
}

/** The site-relative paths `file` imports; throws on anything a browser cannot load from the site. */
function importsOf(file: string, source: string): string[] {
  const paths: string[] = [];
  for (const match of source.matchAll(IMPORT)) {
    const specifier = match[1] ?? '';
    if (!specifier.startsWith('./') && !specifier.startsWith('../')) {
      throw new Error(`${file} imports ${specifier}: the web page can load only relative modules that need no Node.`);
    }
    const path = posix.normalize(posix.join(posix.dirname(file), specifier));
    if (path.startsWith('../')) throw new Error(`${file} imports ${specifier}, outside the site.`);
    // The page's own modules are copied with web/; only compiled ones are followed.
    if (path.includes('/')) paths.push(path);
  }
  return paths;
}
