import { readFile, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

// Static imports, re-exports, dynamic imports and require() calls with a literal specifier.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm;

export interface WorkerFiles {
  files: string[];
  packages: string[];
}

// The code package carries the worker and nothing of the CLI, the local stack or the packager.
export async function workerFiles(distDir: string, entry: string): Promise<WorkerFiles> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [resolve(distDir, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    const name = relative(distDir, file);
    if (files.has(name)) continue;
    files.add(name);
    for (const match of (await readFile(file, 'utf8')).matchAll(SPECIFIER)) {
      const specifier = match[1] ?? '';
      if (specifier.startsWith('.')) pending.push(resolve(dirname(file), specifier));
      else if (!specifier.startsWith('node:')) packages.add(packageName(specifier));
    }
  }
  return { files: [...files].sort(), packages: [...packages].sort() };
}

function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

// Nested `node_modules` resolve first, as Node does.
export async function pruneNodeModules(nodeModules: string, roots: readonly string[]): Promise<string[]> {
  const keep = new Set<string>();
  const visit = async (name: string, from: string): Promise<void> => {
    const dir = await locate(nodeModules, name, from);
    if (!dir || keep.has(dir)) return;
    keep.add(dir);
    const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const deps = { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies };
    for (const dep of Object.keys(deps)) await visit(dep, dir);
  };
  for (const root of roots) {
    if (!(await locate(nodeModules, root, nodeModules))) throw new Error(`The worker imports '${root}', which is not installed.`);
    await visit(root, nodeModules);
  }

  const removed: string[] = [];
  for (const name of await topLevelPackages(nodeModules)) {
    if (keep.has(join(nodeModules, name))) continue;
    await rm(join(nodeModules, name), { recursive: true, force: true });
    removed.push(name);
  }
  await rm(join(nodeModules, '.bin'), { recursive: true, force: true });
  return removed;
}

async function locate(nodeModules: string, name: string, from: string): Promise<string | undefined> {
  // From a package directory walk up through its nested node_modules to the top level.
  for (let dir = from; dir.startsWith(nodeModules); dir = dirname(dir)) {
    const candidate = dir === nodeModules ? join(dir, name) : join(dir, 'node_modules', name);
    try {
      await readFile(join(candidate, 'package.json'));
      return candidate;
    } catch {
      // not here: one level up
    }
    if (dir === nodeModules) break;
  }
  return undefined;
}

async function topLevelPackages(nodeModules: string): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(nodeModules, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
    if (!entry.name.startsWith('@')) names.push(entry.name);
    else for (const scoped of await readdir(join(nodeModules, entry.name))) names.push(`${entry.name}/${scoped}`);
  }
  return names;
}
