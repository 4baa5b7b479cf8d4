import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FerryError } from '../protocol/errors.js';

export interface DataDirLock {
  release(): Promise<void>;
}

const LOCK_NAME = 'ferry.lock';

/**
 * One local stack per data dir. The store sweeps its folders at start and the mirror cache clears
 * git locks it believes stale: both are only right when no other process writes there. The lock is a
 * file naming its owner's pid, taken with O_EXCL; one whose owner is gone (a crash) is taken over.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const path = join(dir, LOCK_NAME);
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return { release: () => rm(path, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (attempt === 0 && !isAlive(owner)) {
      await rm(path, { force: true });
      continue;
    }
    throw new FerryError(
      'DATA_DIR_IN_USE',
      `Another ferry (pid ${Number.isInteger(owner) ? owner : 'unknown'}) is using ${dir}. Stop it, pass another --data directory, or remove ${path} if no ferry is running.`,
    );
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
