import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './helpers/source-files.js';
import { ROOT } from './helpers/worker-process.js';

// The folders of src/ and who may import whom (docs/architecture.md). The worker is what runs on FC;
// client and local reach it only through the wire protocols, whose shared code lives in protocol/.
const MAY_IMPORT: Record<string, readonly string[]> = {
  util: [],
  protocol: ['util'],
  worker: ['protocol', 'util'],
  local: ['protocol', 'util'],
  client: ['protocol', 'util', 'local'],
  deploy: [],
};

// The only client modules that start the embedded local stack.
const LOCAL_IMPORTERS = ['src/client/commands/serve.ts', 'src/client/endpoint.ts'];

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

interface Edge {
  file: string;
  target: string;
}


async function importEdges(): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const path of await sourceFiles(join(ROOT, 'src'))) {
    const file = relative(ROOT, path);
    for (const match of (await readFile(path, 'utf8')).matchAll(SPECIFIER)) {
      edges.push({ file, target: relative(ROOT, resolve(dirname(path), match[1] ?? '')) });
    }
  }
  return edges;
}

const part = (path: string): string => path.split('/')[1] ?? '';

describe('the layout of src/', () => {
  it('has exactly the documented parts, and no loose files', async () => {
    const entries = await readdir(join(ROOT, 'src'), { withFileTypes: true });
    expect(entries.filter((entry) => !entry.isDirectory()).map((entry) => entry.name)).toEqual([]);
    expect(entries.map((entry) => entry.name).sort()).toEqual(Object.keys(MAY_IMPORT).sort());
  });

  it('imports point one way: worker, client and local share only protocol and util', async () => {
    const edges = await importEdges();
    expect(edges.length).toBeGreaterThan(100);
    const crossing = edges.filter(({ file, target }) => part(file) !== part(target) && !MAY_IMPORT[part(file)]?.includes(part(target)));
    expect(crossing).toEqual([]);
  });

  it('only the serve command and the embedded path of get start the local stack', async () => {
    const importers = new Set((await importEdges()).filter(({ file, target }) => part(file) === 'client' && part(target) === 'local').map(({ file }) => file));
    expect([...importers].filter((file) => !LOCAL_IMPORTERS.includes(file))).toEqual([]);
  });
});
