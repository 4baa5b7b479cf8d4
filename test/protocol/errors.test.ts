import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from '../helpers/source-files.js';
import { CLIENT_ERROR_STATUS, errorFromJSON, FerryError, WORKER_ERROR_STATUS } from '../../src/protocol/errors.js';
import { ROOT } from '../helpers/worker-process.js';


describe('error codes, split by side', () => {
  it('a code belongs to one side only', () => {
    const worker = Object.keys(WORKER_ERROR_STATUS);
    expect(Object.keys(CLIENT_ERROR_STATUS).filter((code) => worker.includes(code))).toEqual([]);
  });

  it('the worker never raises a client code', async () => {
    const named: string[] = [];
    for (const file of await sourceFiles(join(ROOT, 'src/worker'))) {
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
