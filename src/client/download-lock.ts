// The owner of a `.part`: `<dest>.part.lock`, created exclusively (O_EXCL) and holding the owner's pid and
// host. Two downloads to one dest (the same `ferry get` in two terminals) would otherwise write into one
// `.part` and one journal at once, and one's rename or cleanup would break the other. The second waits for
// the lock instead; download.ts then finds the first one's finished file and is done. A lock whose process
// is gone (killed, crashed) is stale and taken over; one from another host cannot be checked and is waited for.
import { open, readFile, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FinalError, stoppedError } from './download-http.js';

export interface LockHolder {
  pid: number;
  host: string;
}

/** How often a waiting download looks at the lock again: short next to any download worth waiting for. */
export const LOCK_POLL_MS = 250;
/** A lock still without its owner after this long was left by a process that died between creating and writing it. */
const UNWRITTEN_STALE_MS = 10_000;

export function lockPath(part: string): string {
  return `${part}.lock`;
}

/**
 * Takes the lock of `part`, waiting while another live process (or another download in this one) holds
 * it; `onWaiting` once when the wait begins. Resolves with a release that removes the lock (call it on every
 * path out). Rejects with TIMEOUT when `signal` aborts while waiting.
 */
export async function lockPart(part: string, options: { signal?: AbortSignal | undefined; onWaiting?: ((holder: LockHolder) => void) | undefined } = {}): Promise<() => Promise<void>> {
  const path = lockPath(part);
  const self: LockHolder = { pid: process.pid, host: hostname() };
  let waiting = false;
  for (;;) {
    if (options.signal?.aborted) throw stoppedError(options.signal.reason);
    const created = await open(path, 'wx').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return undefined;
      throw new FinalError('DOWNLOAD_FAILED', `Cannot write ${path}: ${error.message}.`, { cause: error });
    });
    if (created) {
      try {
        await created.writeFile(JSON.stringify(self));
      } finally {
        await created.close();
      }
      return () => rm(path, { force: true }).catch(() => undefined);
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    // Gone meanwhile: try again at once. Unreadable as ours: the owner is between creating and writing it.
    if (text === undefined) continue;
    const holder = parseHolder(text);
    if (holder ? stale(holder, self.host) : await unwrittenTooLong(path)) {
      // Only if it is still the very lock judged stale: another waiter may have taken it over since.
      if ((await readFile(path, 'utf8').catch(() => undefined)) === text) await rm(path, { force: true });
      continue;
    }
    if (!waiting && holder) {
      waiting = true;
      options.onWaiting?.(holder);
    }
    await sleep(LOCK_POLL_MS, undefined, { signal: options.signal }).catch((abort: unknown) => {
      throw stoppedError(abort);
    });
  }
}

async function unwrittenTooLong(path: string): Promise<boolean> {
  const found = await stat(path).catch(() => undefined);
  return found !== undefined && Date.now() - found.mtimeMs > UNWRITTEN_STALE_MS;
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockHolder>;
    if (Number.isSafeInteger(value.pid) && (value.pid as number) > 0 && typeof value.host === 'string') return value as LockHolder;
  } catch {
    // Half written: not judged until it is whole.
  }
  return undefined;
}

/** The holder's process is gone: same host, and signal 0 finds no such process. */
function stale(holder: LockHolder, host: string): boolean {
  if (holder.host !== host) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists under another user; only ESRCH says it is gone.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
