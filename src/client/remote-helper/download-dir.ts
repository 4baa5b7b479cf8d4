// Where bundle parts download: `$XDG_CACHE_HOME/ferry/downloads/<sha256 of the part>.bundle` (default
// ~/.cache), one stable name per part, so a fetch or clone interrupted mid-download continues in the next
// run from the `.part` and journal download.ts keeps (a second run of the same job gets the same parts, the
// worker's bundle being cached). Outside the repository on purpose: `git clone` removes the new repository
// when it fails or is interrupted, and the download with it. Named by content and sha256-checked, a file
// here is never trusted for more than its bytes; two fetches of one part take turns (download-lock.ts).
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FerryError } from '../../protocol/errors.js';

/** Files nobody touched for this long are a download that was never continued: swept by the next fetch. */
export const DOWNLOAD_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

export function downloadsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ferry', 'downloads');
}

/** The stable path of a part's file (`bundle`, or `idx` for the worker's index of it). */
export function downloadPath(dir: string, sha256: string, extension: 'bundle' | 'idx'): string {
  // The name comes from the worker's message: only a sha256 may become a file name.
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new FerryError('GIT_FAILED', `The worker named a bundle part by "${sha256.slice(0, 80)}", not a sha256; run the command again.`);
  return join(dir, `${sha256}.${extension}`);
}

/** Creates the directory and removes what is older than `maxAgeMs` (a live download writes, so stays younger). */
export async function prepareDownloads(dir: string, maxAgeMs = DOWNLOAD_MAX_AGE_MS, now = Date.now()): Promise<void> {
  await mkdir(dir, { recursive: true });
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      const found = await stat(path).catch(() => undefined);
      // Best effort: another fetch sweeping the same file at once is no failure.
      if (found?.isFile() && now - found.mtimeMs > maxAgeMs) await rm(path, { force: true }).catch(() => undefined);
    }),
  );
}
