import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_ERROR_STATUS, errorFromJSON, FerryError, WORKER_ERROR_STATUS } from '../../src/protocol/errors.js';
import { ROOT } from '../helpers/worker-process.js';

async function sources(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts')) files.push(path);
  }
  return files;
}

describe('error codes, split by side', () => {
  it('a code belongs to one side only', () => {
    const worker = Object.keys(WORKER_ERROR_STATUS);
    expect(Object.keys(CLIENT_ERROR_STATUS).filter((code) => worker.includes(code))).toEqual([]);
  });

  it('the worker never raises a client code', async () => {
    const named: string[] = [];
    for (const file of await sources(join(ROOT, 'src/worker'))) {
      const text = await readFile(file, 'utf8');
      for (const code of Object.keys(CLIENT_ERROR_STATUS)) if (text.includes(`'${code}'`)) named.push(`${file}: ${code}`);
    }
    expect(named).toEqual([]);
  });

  it.each([
    ['REF_NOT_FOUND', 404],
    ['WORKER_STOPPING', 503],
    ['DOWNLOAD_FAILED', 502],
  ] as const)('%s carries its status %i in its JSON, and survives the round trip', (code, status) => {
    const json = new FerryError(code, 'm').toJSON();
    expect(json).toEqual({ code, message: 'm', status });
    expect(errorFromJSON(JSON.parse(JSON.stringify(json))).status).toBe(status);
  });
});
