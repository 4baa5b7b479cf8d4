// Upstream hosts drop connections, cut answers short and stall now and then; trying again a moment
// later usually works. Errors that may pass are marked transient where they are made (git/errors.ts,
// git/run-git.ts) with a short reason; `retryUpstream` runs an operation again for those only, a
// bounded number of times with growing pauses, and says so before each new attempt. A 404, a login
// wall or a missing ref fails the same way every time and is never retried.
import { FerryError } from '../protocol/errors.js';

export interface RetryPolicy {
  /** Further attempts after the first (FERRY_UPSTREAM_RETRIES); 0 turns retrying off. */
  retries: number;
  /** The pause before the first retry; each next one doubles, up to 10 s (FERRY_UPSTREAM_BACKOFF_MS). */
  backoffMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 3, backoffMs: 1000 };
const MAX_BACKOFF_MS = 10_000;

/** Why an attempt failed, as the progress line says it: `upstream <reason>, retrying (1/3)`. */
export type TransientReason = 'cut the connection' | 'stalled' | 'answered a server error' | 'timed out' | 'was busy';

const reasons = new WeakMap<object, TransientReason>();

/** Marks `error` as a failure that another attempt may not meet; returns it. */
export function markTransient<E extends object>(error: E, reason: TransientReason): E {
  reasons.set(error, reason);
  return error;
}

export function transientReason(error: unknown): TransientReason | undefined {
  return typeof error === 'object' && error !== null ? reasons.get(error) : undefined;
}

export interface RetryNotice {
  /** 1 for the first retry. */
  retry: number;
  retries: number;
  reason: TransientReason;
  /** `upstream cut the connection, retrying (1/3)` */
  message: string;
  error: unknown;
}

export interface RetryOptions {
  policy: RetryPolicy;
  signal?: AbortSignal | undefined;
  /** Told before each new attempt (after the pause has begun). */
  onRetry?: ((notice: RetryNotice) => void) | undefined;
}

/** `run(attempt)` until it succeeds, fails for good, or the policy's retries are spent (the last error is thrown). */
export async function retryUpstream<T>(run: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy, signal } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      const reason = transientReason(error);
      if (reason === undefined || attempt > policy.retries || signal?.aborted) throw error;
      const message = `upstream ${reason}, retrying (${attempt}/${policy.retries})`;
      options.onRetry?.({ retry: attempt, retries: policy.retries, reason, message, error });
      await pause(Math.min(MAX_BACKOFF_MS, policy.backoffMs * 2 ** (attempt - 1)), signal);
    }
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelled(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function cancelled(signal: AbortSignal | undefined): FerryError {
  return new FerryError('TIMEOUT', 'The job was cancelled while waiting to try the upstream again.', { cause: signal?.reason });
}
