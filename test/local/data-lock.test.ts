import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/local/data-lock.js';
import { startLocalStack } from '../../src/local/stack.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-lock-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The pid of a process that has exited: a crashed owner. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

describe('data dir lock', () => {
  it('is held by one owner at a time, names it, and is free again once released', async () => {
    const dir = await mkdtemp(join(work, 'one-'));
    const lock = await lockDataDir(dir);
    expect((await readFile(join(dir, 'ferry.lock'), 'utf8')).trim()).toBe(String(process.pid));
    await expect(lockDataDir(dir)).rejects.toMatchObject({ code: 'DATA_DIR_IN_USE', message: expect.stringContaining(`pid ${process.pid}`) });
    await lock.release();
    await (await lockDataDir(dir)).release();
  });

  it('takes over a lock whose owner is gone', async () => {
    const dir = await mkdtemp(join(work, 'stale-'));
    await writeFile(join(dir, 'ferry.lock'), `${await deadPid()}\n`);
    const lock = await lockDataDir(dir);
    expect((await readFile(join(dir, 'ferry.lock'), 'utf8')).trim()).toBe(String(process.pid));
    await lock.release();
  });

  it('keeps a second local stack off a data dir in use, and lets one start after the first closes', async () => {
    const dir = join(work, 'stack');
    const first = await startLocalStack({ dataDir: dir, port: 0 });
    try {
      await expect(startLocalStack({ dataDir: dir, port: 0 })).rejects.toMatchObject({ code: 'DATA_DIR_IN_USE' });
      // The refused start left the first one working.
      expect((await fetch(`${first.api}/healthz`)).ok).toBe(true);
    } finally {
      await first.close();
    }
    const second = await startLocalStack({ dataDir: dir, port: 0 });
    await second.close();
  });
});
