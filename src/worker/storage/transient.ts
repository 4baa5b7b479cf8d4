import { setTimeout as delay } from 'node:timers/promises';
import { FerryError } from '../../protocol/errors.js';

/*
 * Which storage failures are worth trying again, and the two ways ferry does: a part upload is retried
 * in place (a 5xx or a dropped connection on one part of many must not fail a job), and clean-up after a
 * failure (aborting a multipart upload, releasing a lease) goes on in the background until storage is
 * back, so an outage leaves no unfinished upload and no lease held once it ends.
 */

/** No answer (refused, reset, timed out: ali-oss status -1 or -2, or a timeout error) or a 5xx. */
export function isTransient(error: unknown): boolean {
  const e = error as { status?: unknown; name?: unknown } | null;
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (status === undefined) return typeof e?.name === 'string' && /Timeout|RequestError|ConnectionError/.test(e.name);
  return status < 0 || status >= 500;
}

/** What oss-store.ts turns a transient failure into. */
function isStorageUnavailable(error: unknown): boolean {
  return error instanceof FerryError && error.code === 'STORAGE_UNAVAILABLE';
}

export interface RetryOptions {
  /** Attempts after the first. Default 3. */
  retries?: number;
  /** First wait; doubles each time. Default 250 ms. */
  backoffMs?: number;
  signal?: AbortSignal | undefined;
}

/** Runs `attempt` again after a transient storage failure, a bounded number of times. */
export async function retryTransient<T>(attempt: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 3;
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (n >= retries || !isStorageUnavailable(error) || options.signal?.aborted) throw error;
      await delay((options.backoffMs ?? 250) * 2 ** n, undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
}

/** Waits between background attempts: about two minutes in all before giving up. */
const BACKGROUND_DELAYS_MS = [1000, 2000, 4000, 8000, 15_000, 30_000, 60_000];

/**
 * Tries `attempt` now; if storage is unavailable, again in the background (timers that do not hold the
 * process open) until it succeeds or the delays are spent. Resolves after the first try either way.
 */
export async function settleInBackground(what: string, attempt: () => Promise<unknown>, log: (line: string) => void = console.error): Promise<void> {
  try {
    await attempt();
    return;
  } catch (error) {
    if (!isStorageUnavailable(error)) return;
  }
  void (async () => {
    for (const wait of BACKGROUND_DELAYS_MS) {
      await delay(wait, undefined, { ref: false });
      try {
        await attempt();
        return;
      } catch (error) {
        if (!isStorageUnavailable(error)) return;
      }
    }
    log(`storage: gave up on ${what} after about two minutes of storage being unavailable`);
  })();
}
