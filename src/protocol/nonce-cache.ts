// When full, the oldest nonce is forgotten early: memory stays bounded, and a flood of signed
// requests would need the app secret anyway. A Map's insertion order puts the oldest first.
export interface NonceCacheOptions {
  /** How long a nonce stays used. Default 15 minutes, the gateway's timestamp window. */
  ttlMs?: number;
  /** Most nonces remembered at once. Default 100 000. */
  maxEntries?: number;
}

export class NonceCache {
  readonly ttlMs: number;
  readonly maxEntries: number;
  private readonly seen = new Map<string, number>();

  constructor(options: NonceCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 15 * 60_000;
    this.maxEntries = options.maxEntries ?? 100_000;
    if (!(this.ttlMs > 0)) throw new TypeError(`Expected \`ttlMs\` to be a positive number, got ${this.ttlMs}`);
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new TypeError(`Expected \`maxEntries\` to be a positive integer, got ${this.maxEntries}`);
    }
  }

  use(nonce: string, now = Date.now()): boolean {
    this.evict(now);
    const expiresAt = this.seen.get(nonce);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.seen.delete(nonce);
    this.seen.set(nonce, now + this.ttlMs);
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done) break;
      this.seen.delete(oldest.value);
    }
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private evict(now: number): void {
    for (const [nonce, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(nonce);
    }
  }
}
