// The docs' tables follow the code: a README configuration row (English and Chinese) for every FERRY_* variable
// the worker reads, and a row in docs/protocol.md's error table, with its status, for every code the worker sends.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WORKER_ERROR_STATUS } from '../src/protocol/errors.js';
import { ROOT } from './helpers/worker-process.js';

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The text of every .ts file under src/ but src/protocol/errors.ts: a code none of them names is never sent. */
const sources = (readdirSync(join(ROOT, 'src'), { recursive: true }) as string[])
  .filter((file) => file.endsWith('.ts') && file !== join('protocol', 'errors.ts'))
  .map((file) => read(join('src', file)))
  .join('\n');

/** Every name a configuration table row (`| `A`, `B` | …`) documents, from its first cell. */
function tableNames(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const line of markdown.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? '';
    for (const match of first.matchAll(/`(FERRY_[A-Z0-9_]+)`/g)) names.add(match[1] as string);
  }
  return names;
}

describe('docs tables', () => {
  // Names read whole (`'FERRY_X'`), not prefixes built into names.
  const read_ = [...read('src/worker/config.ts').matchAll(/'(FERRY_[A-Z0-9_]*[A-Z0-9])'/g)].map((m) => m[1] as string);
  const variables = [...new Set(read_)].sort();

  it.each(['README.md', 'README.zh-CN.md'])('%s has a configuration row for every FERRY_* variable of src/worker/config.ts', (file) => {
    expect(variables.length).toBeGreaterThan(30);
    const documented = tableNames(read(file));
    expect(variables.filter((name) => !documented.has(name))).toEqual([]);
  });

  it("docs/protocol.md's error table has every worker code with its status", () => {
    // Rows like | `INVALID_JSON`, `BAD_REQUEST` | 400 | …: every code of the first cell has the second's status.
    const documented = new Map<string, number>();
    for (const line of read('docs/protocol.md').split('\n')) {
      const row = /^\|([^|]*)\| (\d{3}) \|/.exec(line);
      for (const match of row?.[1]?.matchAll(/`([A-Z][A-Z_]+)`/g) ?? []) documented.set(match[1] as string, Number(row?.[2]));
    }
    // The local gateway's own codes are named after the table, with a link to where they are answered.
    const gatewayOwn = /which also holds the local gateway's\s+own: ([^)]*)/.exec(read('docs/protocol.md'))?.[1] ?? '';
    const wrong = Object.entries(WORKER_ERROR_STATUS)
      .filter(([code]) => sources.includes(`'${code}'`) && !gatewayOwn.includes(`\`${code}\``))
      .filter(([code, status]) => documented.get(code) !== status);
    expect(wrong.map(([code, status]) => `${code} ${status} (documented: ${documented.get(code) ?? 'no row'})`)).toEqual([]);
  });
});
