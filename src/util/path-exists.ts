import { stat } from 'node:fs/promises';

/** Whether anything (file, folder, link target) is at `path`; unreadable counts as absent. */
export function pathExists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
