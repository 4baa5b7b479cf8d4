import type { DoneResult } from '../../protocol/job.js';

/*
 * Jobs this instance knows are waiting for an artifact that a build here may make: jobs it queued (their
 * async invocation not delivered yet) and jobs queued on its runner behind other builds. When a build of
 * a key finishes here, every job waiting for that key whose lookup now finds the artifact is answered at
 * once, wherever it waits (FC's or the emulator's async queue, a runner slot): a job whose artifact exists
 * never waits behind unrelated builds. The job's own run, when it comes, finds it answered and does nothing.
 *
 * Memory only, and only an optimisation: a job submitted on another instance, or outliving this process,
 * is answered by its own run's lookup when that run starts.
 */

export interface WaitingJob {
  jobId: string;
  /** The build key (KindCore.buildKey): which finished build may answer it. */
  key: string;
  /** The job's own cache lookup. */
  lookup(): Promise<DoneResult | undefined>;
  /** Tells the job's client and records its state; called at most once. */
  answer(result: DoneResult): void | Promise<void>;
}

interface Entry {
  job: WaitingJob;
  addedAt: number;
  /** Set while settle() looks the job up: take() waits for it rather than racing it. */
  looking?: Promise<DoneResult | undefined> | undefined;
}

export interface WaitingJobsOptions {
  /** Entries older than this are dropped (their job ran elsewhere or was lost). Default 35 min: FC's async event age (30 min) and some. */
  maxAgeMs?: number;
  /** At most this many entries and as many answered ids. Default 10,000. */
  limit?: number;
  /** Lookups at once while settling a key. Default 8. */
  lookups?: number;
  clock?: () => number;
}

export class WaitingJobs {
  readonly #byJob = new Map<string, Entry>();
  readonly #byKey = new Map<string, Set<string>>();
  readonly #answered = new Map<string, DoneResult>();
  readonly #maxAgeMs: number;
  readonly #limit: number;
  readonly #lookups: number;
  readonly #clock: () => number;

  constructor(options: WaitingJobsOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? 35 * 60_000;
    this.#limit = options.limit ?? 10_000;
    this.#lookups = options.lookups ?? 8;
    this.#clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.#byJob.size;
  }

  /** Adds the job, or replaces how it is answered (its run takes over from its submit). */
  add(job: WaitingJob): void {
    this.#expire();
    const previous = this.#byJob.get(job.jobId);
    if (previous) this.#unlink(job.jobId, previous.job.key);
    this.#byJob.set(job.jobId, { job, addedAt: this.#clock(), looking: previous?.looking });
    let jobs = this.#byKey.get(job.key);
    if (!jobs) this.#byKey.set(job.key, (jobs = new Set()));
    jobs.add(job.jobId);
  }

  /** Forgets the job (it could not be queued). */
  remove(jobId: string): void {
    const entry = this.#byJob.get(jobId);
    if (entry) this.#unlink(jobId, entry.job.key);
  }

  /**
   * The job's run claims it: it is no longer answered from here. Resolves with the result it was already
   * answered with (the run then has nothing to do), waiting for a lookup in progress first.
   */
  async take(jobId: string): Promise<DoneResult | undefined> {
    const entry = this.#byJob.get(jobId);
    if (entry?.looking) await entry.looking.catch(() => undefined);
    const answered = this.#answered.get(jobId);
    if (answered) return answered;
    const current = this.#byJob.get(jobId);
    if (current) this.#unlink(jobId, current.job.key);
    return undefined;
  }

  /** A build of `key` finished here: answer each job waiting for it that its lookup now finds. */
  async settle(key: string): Promise<void> {
    const ids = [...(this.#byKey.get(key) ?? [])];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        await this.#settleOne(id, key).catch(() => undefined);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#lookups, ids.length) }, worker));
  }

  /** Looks the job up now (its run starting): answered if the artifact exists. */
  async check(jobId: string): Promise<void> {
    const entry = this.#byJob.get(jobId);
    if (entry) await this.#settleOne(jobId, entry.job.key);
  }

  async #settleOne(jobId: string, key: string): Promise<void> {
    const entry = this.#byJob.get(jobId);
    if (!entry || entry.looking || entry.job.key !== key) return;
    const looking = entry.job.lookup();
    entry.looking = looking;
    let result: DoneResult | undefined;
    try {
      result = await looking;
    } finally {
      entry.looking = undefined;
    }
    // Taken by its run meanwhile (take() waited for this lookup, so it is still ours if it is here).
    const current = this.#byJob.get(jobId);
    if (!result || !current) return;
    this.#unlink(jobId, current.job.key);
    this.#remember(jobId, result);
    await current.job.answer(result);
  }

  #remember(jobId: string, result: DoneResult): void {
    this.#answered.set(jobId, result);
    if (this.#answered.size > this.#limit) this.#answered.delete(this.#answered.keys().next().value as string);
  }

  #unlink(jobId: string, key: string): void {
    this.#byJob.delete(jobId);
    const jobs = this.#byKey.get(key);
    jobs?.delete(jobId);
    if (jobs?.size === 0) this.#byKey.delete(key);
  }

  /** Oldest first (insertion order): drop what is too old, then what is over the limit. */
  #expire(): void {
    const oldest = this.#clock() - this.#maxAgeMs;
    for (const [jobId, entry] of this.#byJob) {
      if (entry.addedAt >= oldest && this.#byJob.size < this.#limit) break;
      if (!entry.looking) this.#unlink(jobId, entry.job.key);
    }
  }
}
