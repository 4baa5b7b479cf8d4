import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadLeases } from '../../src/local/oss/leases.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-leases-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const exists = (path: string): Promise<boolean> => stat(path).then(() => true, () => false);

async function folder(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  await writeFile(join(path, '1.0123456789abcdef.bin'), 'part');
  return path;
}

describe('ReadLeases', () => {
  it('removes a path nobody reads at once', async () => {
    const path = await folder('idle');
    await new ReadLeases().remove(path);
    expect(await exists(path)).toBe(false);
  });

  it('removes a path being read when its last lease is released, and refuses new leases meanwhile', async () => {
    const leases = new ReadLeases();
    const path = await folder('busy');
    const first = leases.take(path)!;
    const second = leases.take(path)!;
    await leases.remove(path);
    expect(await exists(path)).toBe(true);
    // A read that looked at the record before it was replaced must look again.
    expect(leases.take(path)).toBeUndefined();
    first();
    first();
    expect(await exists(path)).toBe(true);
    second();
    await expect.poll(() => exists(path)).toBe(false);
    expect(leases.take(path)).toBeTypeOf('function');
  });
});
