import { readdir } from 'node:fs/promises';

/** True for a missing or empty directory; any other failure to read it (ENOTDIR, EACCES) is thrown as is. */
export async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}
