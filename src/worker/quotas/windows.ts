// Quota windows are fixed and in UTC, so every instance agrees on them without talking: a minute for
// job rates, a calendar day for bytes. A client refused is told when its window ends (Retry-After).

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;

/** `2026-12-05`: the UTC day `now` falls in, as counter object names use it. */
export function utcDay(now: number): string {
  return new Date(now).toISOString().slice(0, 10);
}

/** The minute `now` falls in, counted from the epoch. */
export function minuteOf(now: number): number {
  return Math.floor(now / MINUTE_MS);
}

/** Whole seconds until the current minute ends (at least 1). */
export function secondsToNextMinute(now: number): number {
  return Math.max(1, Math.ceil(((minuteOf(now) + 1) * MINUTE_MS - now) / 1000));
}

/** Whole seconds until 00:00 UTC (at least 1). */
export function secondsToNextDay(now: number): number {
  return Math.max(1, Math.ceil(((Math.floor(now / DAY_MS) + 1) * DAY_MS - now) / 1000));
}
