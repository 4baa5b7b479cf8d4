/** The local stack's secrets: made once per data dir and read back, including the older flat layout. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadOrCreateCredentials } from '../../src/local/credentials.js';

let dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  dirs = [];
});
async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-local-creds-'));
  dirs.push(dir);
  return dir;
}

describe('loadOrCreateCredentials', () => {
  it('makes a set once and returns the same one afterwards', async () => {
    const dir = await dataDir();
    const made = await loadOrCreateCredentials(dir);
    expect(made.accessKey).toEqual({ accessKeyId: expect.stringMatching(/^LTAIdev/), accessKeySecret: expect.any(String) });
    expect(await loadOrCreateCredentials(dir)).toEqual(made);
  });

  it('keeps the secrets of a data dir written with the flat OSS key fields', async () => {
    const dir = await dataDir();
    const flat = { appKey: 'devapp', appSecret: 'app-secret', ossAccessKeyId: 'LTAIdevold', ossAccessKeySecret: 'oss-secret', dispatchSecret: 'dispatch' };
    await writeFile(join(dir, 'credentials.json'), JSON.stringify(flat));
    expect(await loadOrCreateCredentials(dir)).toEqual({
      appKey: 'devapp',
      appSecret: 'app-secret',
      accessKey: { accessKeyId: 'LTAIdevold', accessKeySecret: 'oss-secret' },
      dispatchSecret: 'dispatch',
    });
    // Read, not rewritten: an older ferry sharing the data dir still finds its fields.
    expect(JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8'))).toEqual(flat);
  });

  it('makes a new set when the file is incomplete', async () => {
    const dir = await dataDir();
    await writeFile(join(dir, 'credentials.json'), JSON.stringify({ appKey: 'devapp' }));
    const made = await loadOrCreateCredentials(dir);
    expect(made.appKey).not.toBe('devapp');
    expect(made.accessKey.accessKeySecret).toBeTruthy();
  });
});
