/**
 * The notifier's sense of time, injected so a test can drive the throttle and the backoff step by
 * step instead of waiting for real milliseconds.
 */
export interface NotifierClock {
  /** Milliseconds, as `Date.now()`. */
  now(): number;
  /**
   * Runs `fn` once after `ms`; the returned function cancels it. A `background` timer must not keep
   * the process alive (housekeeping only).
   */
  after(ms: number, fn: () => void, background?: boolean): () => void;
}

export const systemClock: NotifierClock = {
  now: () => Date.now(),
  after(ms, fn, background = false) {
    const timer = setTimeout(fn, ms);
    if (background) timer.unref();
    return () => clearTimeout(timer);
  },
};

/** A promise that resolves after `ms` on `clock`. */
export function sleep(clock: NotifierClock, ms: number): Promise<void> {
  return new Promise((resolve) => void clock.after(ms, resolve));
}
