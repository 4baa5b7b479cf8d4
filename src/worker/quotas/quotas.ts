import { mkdir, statfs } from 'node:fs/promises';
import type { QuotaConfig } from '../config.js';
import { FerryError } from '../../protocol/errors.js';
import { formatBytes } from '../../util/bytes.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { CLIENT_LABELS, type ClientKey } from './client-keys.js';
import type { SharedCounters } from './shared-counters.js';
import { minuteOf, secondsToNextDay, secondsToNextMinute, utcDay } from './windows.js';

/** The counter of everything served by the deployment, for the daily budget. */
const GLOBAL = 'global';
/** What a busy instance asks a client to wait: long enough for a queued job or two to start. */
const BUSY_RETRY_AFTER_S = 10;
/** Mirrors are evicted as jobs end: a minute is a fair wait for room on disk. */
const DISK_RETRY_AFTER_S = 60;
/** Far more jobs than finish on one instance while a job can still be done twice. */
const MAX_COUNTED_JOBS = 10_000;

export interface QuotasOptions {
  limits: QuotaConfig;
  counters: SharedCounters;
  workDir: string;
  /** Jobs queued on this instance and not yet started (0 when jobs run elsewhere). */
  pending: () => number;
  /** Milliseconds since the epoch; the same clock as the counters'. Default `Date.now`. */
  clock?: () => number;
  /** Free bytes of the file system holding `dir`. Default: `fs.statfs`'s blocks available to this user. */
  freeBytes?: (dir: string) => Promise<number>;
}

// The limits of docs/security.md (Limits) that are checked when a job is asked for or about to fetch.
// Refusals carry retryAfter, which the API sends as Retry-After and in the JSON answer.
export class Quotas {
  readonly #options: QuotasOptions;
  readonly #clock: () => number;
  readonly #freeBytes: (dir: string) => Promise<number>;
  /** Jobs whose bytes are counted, oldest first. */
  readonly #counted = new Set<string>();

  constructor(options: QuotasOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#freeBytes = options.freeBytes ?? statfsFreeBytes;
  }

  /**
   * Admits one job for `keys` or throws: the daily budget (503 BUDGET_EXHAUSTED), then each key's bytes of
   * the day and jobs of the minute (429 RATE_LIMITED). An admitted job counts in its keys' minute.
   */
  async admit(store: ObjectStore, keys: readonly ClientKey[]): Promise<void> {
    const { ratePerMinute, clientDailyBytes, dailyBudgetBytes } = this.#options.limits;
    const { counters } = this.#options;
    const day = utcDay(this.#clock());
    await Promise.all([...(dailyBudgetBytes > 0 ? [counters.sync(store, day, GLOBAL)] : []), ...keys.map((key) => counters.sync(store, day, key.id))]);
    // From here to the adds nothing waits: no other request on this instance can slip in between.
    const now = this.#clock();
    const minute = minuteOf(now);
    if (dailyBudgetBytes > 0 && counters.totals(day, GLOBAL, minute).bytes >= dailyBudgetBytes) {
      throw new FerryError(
        'BUDGET_EXHAUSTED',
        `This service has served its daily budget of ${formatBytes(dailyBudgetBytes)} (FERRY_DAILY_BUDGET_BYTES) for ${day}: new jobs are taken again from 00:00 UTC.`,
        { retryAfter: secondsToNextDay(now) },
      );
    }
    for (const key of keys) {
      const totals = counters.totals(day, key.id, minute);
      const who = `this ${CLIENT_LABELS[key.kind]}`;
      if (clientDailyBytes > 0 && totals.bytes >= clientDailyBytes) {
        throw new FerryError(
          'RATE_LIMITED',
          `${capitalised(who)} has been served ${formatBytes(totals.bytes)} today, the daily limit of ${formatBytes(clientDailyBytes)} (FERRY_CLIENT_DAILY_BYTES): try again after 00:00 UTC.`,
          { retryAfter: secondsToNextDay(now) },
        );
      }
      if (ratePerMinute > 0 && totals.jobs >= ratePerMinute) {
        const wait = secondsToNextMinute(now);
        throw new FerryError(
          'RATE_LIMITED',
          `${capitalised(who)} has asked for ${totals.jobs} jobs this minute, the limit of ${ratePerMinute} (FERRY_RATE_LIMIT): try again in ${wait} s.`,
          { retryAfter: wait },
        );
      }
    }
    if (ratePerMinute > 0) await Promise.all(keys.map((key) => counters.add(store, day, key.id, { jobs: 1 }, minute)));
  }

  /**
   * Counts an artifact handed out (a job done, a cache hit included) against its keys and the daily budget,
   * once per job on this instance: a job answered while it waited (jobs/waiting.ts) is done in two places.
   */
  async served(store: ObjectStore, keys: readonly ClientKey[], bytes: number, jobId: string): Promise<void> {
    if (this.#counted.has(jobId)) return;
    this.#counted.add(jobId);
    if (this.#counted.size > MAX_COUNTED_JOBS) this.#counted.delete(this.#counted.values().next().value as string);
    const { clientDailyBytes, dailyBudgetBytes } = this.#options.limits;
    const now = this.#clock();
    const day = utcDay(now);
    const minute = minuteOf(now);
    const ids = [...(dailyBudgetBytes > 0 ? [GLOBAL] : []), ...(clientDailyBytes > 0 ? keys.map((key) => key.id) : [])];
    await Promise.all(ids.map((id) => this.#options.counters.add(store, day, id, { bytes }, minute)));
  }

  /** 503 BUSY when FERRY_MAX_PENDING jobs already wait on this instance. */
  assertNotBusy(): void {
    const { maxPending } = this.#options.limits;
    const pending = this.#options.pending();
    if (pending >= maxPending) {
      throw new FerryError('BUSY', `This instance already has ${pending} jobs waiting (FERRY_MAX_PENDING=${maxPending}): try again in ${BUSY_RETRY_AFTER_S} s.`, {
        retryAfter: BUSY_RETRY_AFTER_S,
      });
    }
  }

  /** 507 INSUFFICIENT_STORAGE when the work dir's file system has less free than FERRY_MIN_FREE_BYTES. */
  async assertDiskRoom(): Promise<void> {
    const { minFreeBytes } = this.#options.limits;
    if (minFreeBytes === 0) return;
    const free = await this.#freeBytes(this.#options.workDir);
    if (free < minFreeBytes) {
      throw new FerryError(
        'INSUFFICIENT_STORAGE',
        `This instance has ${formatBytes(free)} of disk free, less than the ${formatBytes(minFreeBytes)} it keeps before fetching (FERRY_MIN_FREE_BYTES): try again in ${DISK_RETRY_AFTER_S} s.`,
        { retryAfter: DISK_RETRY_AFTER_S },
      );
    }
  }
}

async function statfsFreeBytes(dir: string): Promise<number> {
  await mkdir(dir, { recursive: true });
  const info = await statfs(dir);
  return info.bavail * info.bsize;
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
