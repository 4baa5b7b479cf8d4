// Token bucket per client IP, refilled continuously: a client may burst up to `perMinute`, then sustain
// perMinute/60 requests per second.
export type RateLimiter = (key: string, now?: number) => boolean;

export function createRateLimiter(perMinute: number): RateLimiter {
  if (!(perMinute > 0)) throw new TypeError(`Expected \`anonymousRateLimit.perMinute\` to be a positive number, got ${perMinute}`);
  const ratePerMs = perMinute / 60_000;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let lastSweep = 0;

  return (key, now = Date.now()) => {
    if (now - lastSweep > 60_000) {
      // A bucket idle for a minute is full again; forgetting it changes nothing.
      for (const [k, b] of buckets) if (now - b.at > 60_000) buckets.delete(k);
      lastSweep = now;
    }
    const bucket = buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * ratePerMs);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  };
}
