import PQueue from 'p-queue';
import type { Config } from '../config.js';
import { FerryError, toFerryError } from '../../protocol/errors.js';
import type { GitContext } from '../git/context.js';
import type { MirrorCache } from '../git/mirror.js';
import type { RefsCache } from '../git/refs-cache.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { DEFAULT_KIND } from '../artifacts/registry.js';
import type { BuildContext, LookupContext, ProgressFn } from '../artifacts/types.js';
import { singleBuild } from './lease.js';
import { abortDeadUploads, trackUploads } from '../storage/upload-records.js';
import { bindSpec, type BoundJob } from './request.js';
import { JobReporter, type HeartbeatOptions, type JobListener } from './reporter.js';
import type { JobStateStore } from './state-store.js';
import { workerStopping } from './stopping.js';
import { WaitingJobs } from './waiting.js';
import { applyMessage, isFinal, type DoneResult, type JobSpec, type JobState } from '../../protocol/job.js';

export interface JobRunnerOptions {
  config: Config;
  git: GitContext;
  mirrors: MirrorCache;
  refs: RefsCache;
  states: JobStateStore;
  listeners?: JobListener[];
  /** Shared with the submit path: jobs answered the moment a build here makes their artifact. */
  waiting?: WaitingJobs;
  /** Rewrites each job's state this often while it is on this instance (liveness.ts); none without. */
  heartbeat?: HeartbeatOptions;
}

const DEFAULT_UPLOAD_RENEW_MS = 10_000;

/** What a job's first message says when an earlier attempt at it had begun: its phases start over. */
const RESUMING_MESSAGE = 'worker restarted, resuming';

export interface JobOutcome {
  state: JobState;
  timings: string;
}

export function initialState(spec: JobSpec): JobState {
  return {
    jobId: spec.jobId,
    kind: spec.kind ?? DEFAULT_KIND,
    status: 'queued',
    repo: spec.repo,
    ref: spec.ref,
    commit: spec.commit,
    format: spec.format,
    createdAt: spec.createdAt,
    updatedAt: Date.now(),
    phase: 'queued',
  };
}

export interface RunOptions {
  /** The job came as an async invocation that FC delivers again if it fails (see stopping.ts). */
  redelivered?: boolean;
}

/** A job's kind bound to its request, and its build key: worked out before it waits for a slot. */
interface Prepared {
  kind: BoundJob;
  key: string;
}

/** A build under way on this instance, and the other jobs here that wait for it and report its progress. */
interface Building {
  done: Promise<unknown>;
  watchers: Set<ProgressFn>;
}

interface TrackedJob {
  jobId: string;
  reporter: JobReporter;
  redelivered: boolean;
  started: boolean;
  /** Aborts the job's git and upload work; its reason is the error the job already ended with. */
  stop: AbortController;
}

// At most `concurrency` jobs at once; the rest wait with a live queue position. A job whose artifact exists
// takes no slot: it is looked up when it arrives, and answered while it waits as soon as a build here makes
// its artifact (waiting.ts). On shutdown, close() and abort() end the queued and then the running jobs
// with WORKER_STOPPING.
export class JobRunner {
  readonly #options: JobRunnerOptions;
  readonly #waitingJobs: WaitingJobs;
  readonly #queue: PQueue;
  readonly #waiting: JobReporter[] = [];
  readonly #building = new Map<string, Building>();
  readonly #jobs = new Set<TrackedJob>();
  readonly #runs = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: JobRunnerOptions) {
    this.#options = options;
    this.#waitingJobs = options.waiting ?? new WaitingJobs();
    this.#queue = new PQueue({ concurrency: options.config.concurrency });
  }

  get active(): number {
    return this.#queue.pending;
  }

  get pending(): number {
    return this.#queue.size;
  }

  /** Run a job to its end; never throws: the outcome is in the returned state. */
  async run(spec: JobSpec, store: ObjectStore, extraListeners: JobListener[] = [], options: RunOptions = {}): Promise<JobOutcome> {
    const run = this.#run(spec, store, extraListeners, options);
    this.#runs.add(run);
    try {
      return await run;
    } finally {
      this.#runs.delete(run);
    }
  }

  /** Queued jobs, and any run() from now on, end at once with WORKER_STOPPING; running ones go on. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop([...this.#jobs].filter((job) => !job.started));
  }

  async abort(): Promise<void> {
    this.#closed = true;
    await this.#stop([...this.#jobs]);
  }

  async idle(): Promise<void> {
    while (this.#runs.size > 0) await Promise.allSettled([...this.#runs]);
  }

  async #stop(jobs: TrackedJob[]): Promise<void> {
    for (const job of jobs) {
      this.#waitingJobs.remove(job.jobId);
      const failure = workerStopping(job.redelivered);
      // The state first, so it is stored even if unwinding (killing git, aborting the upload) is slow.
      job.reporter.emit({ v: 1, type: 'error', jobId: job.jobId, ...failure.toJSON() });
      job.stop.abort(failure);
    }
    await Promise.all(jobs.map((job) => job.reporter.flush()));
  }

  async #run(spec: JobSpec, store: ObjectStore, extraListeners: JobListener[], options: RunOptions): Promise<JobOutcome> {
    const listeners = [...(this.#options.listeners ?? []), ...extraListeners];
    const { previous, initial } = await this.#claim(spec, store, options.redelivered ?? false);
    if (previous && isFinal(previous)) return { state: previous, timings: 'already ended' };
    const attempt = (previous?.attempt ?? 0) + 1;
    // The attempt before died: what it was uploading is dead too (upload-records.ts).
    if (attempt > 1) await abortDeadUploads(store, { job: spec.jobId }).catch(() => 0);
    const reporter = new JobReporter(initial, store, this.#options.states, listeners, this.#options.heartbeat);
    const progress: ProgressFn = (phase, detail = {}) =>
      reporter.emit({ v: 1, type: 'progress', jobId: spec.jobId, phase, ...detail, attempt, ts: Date.now() });
    const job: TrackedJob = { jobId: spec.jobId, reporter, redelivered: options.redelivered ?? false, started: false, stop: new AbortController() };

    // Answered while its invocation waited (a build here made its artifact): its client has the result.
    const answered = await this.#waitingJobs.take(spec.jobId);
    if (answered) {
      const state = applyMessage(reporter.state, { v: 1, type: 'done', jobId: spec.jobId, ...answered });
      this.#options.states.remember(state);
      return { state, timings: '' };
    }
    if (this.#closed) {
      await this.#stop([job]);
      return { state: reporter.state, timings: reporter.timings() };
    }
    this.#jobs.add(job);
    try {
      this.#waiting.push(reporter);
      const saturated = this.#queue.pending >= this.#options.config.concurrency;
      progress('queued', { queuePosition: saturated ? this.#waiting.length : 0, ...(attempt > 1 && { message: RESUMING_MESSAGE }) });
      reporter.startHeartbeat();
      let answeredEarly!: () => void;
      const early = new Promise<void>((resolve) => (answeredEarly = resolve));
      // A job that must wait is looked up now, not when its turn comes; the queue keeps arrival order meanwhile.
      const prepared = this.#prepare(spec, store, saturated, (result) => {
        reporter.emit({ v: 1, type: 'done', jobId: spec.jobId, ...result });
        this.#leaveQueue(reporter);
        answeredEarly();
      });
      const turn = this.#queue.add(async () => {
        this.#leaveQueue(reporter);
        // Stopped or answered while it waited: its turn passes without any work.
        if (job.stop.signal.aborted) return;
        const ready = await prepared;
        if ((await this.#waitingJobs.take(spec.jobId)) || reporter.state.status === 'done') return;
        job.started = true;
        await this.#execute(spec, store, reporter, progress, job.stop.signal, ready);
      });
      await Promise.race([turn, early]);
    } finally {
      this.#jobs.delete(job);
      reporter.stop();
    }
    await reporter.flush();
    return { state: reporter.state, timings: reporter.timings() };
  }

  /**
   * Reads what an earlier attempt left and, unless the job already ended, claims it here (a reader on this
   * instance then never judges it lost), both under the job's lock so no reader ends it in between. A
   * delivered event may be a retry (FC delivers it again after a crash or a stop): the stored state says
   * whether an earlier attempt began, or whether the job already ended (then it is not run again).
   */
  async #claim(spec: JobSpec, store: ObjectStore, redelivered: boolean): Promise<{ previous: JobState | undefined; initial: JobState }> {
    const { states } = this.#options;
    return states.exclusive(spec.jobId, async () => {
      const previous = redelivered ? await states.stored(store, spec.jobId).catch(() => undefined) : undefined;
      // The previous attempt's number, so that this attempt's first message is a change (stored and pushed).
      const initial = { ...initialState(spec), attempt: previous?.attempt ?? 1 };
      if (!previous || !isFinal(previous)) states.remember(initial, true);
      return { previous, initial };
    });
  }

  /** Leaves the waiting line (once) and tells the jobs behind it their new place. */
  #leaveQueue(reporter: JobReporter): void {
    const index = this.#waiting.indexOf(reporter);
    if (index === -1) return;
    this.#waiting.splice(index, 1);
    this.#waiting.slice(index).forEach((waiting, offset) => waiting.emit(
      { v: 1, type: 'progress', jobId: waiting.state.jobId, phase: 'queued', queuePosition: index + offset + 1, ts: Date.now() }
    ));
  }

  /**
   * Binds the job and registers it as waiting for its build key, then, if it must wait for a slot, looks it
   * up: a hit is answered at once, without a slot. A job with a slot free is not: its build (singleBuild)
   * looks it up at once, and a lookup here too would read the cache twice for every job. Undefined when
   * binding fails: #execute does it again and reports why.
   */
  async #prepare(spec: JobSpec, store: ObjectStore, mustWait: boolean, answer: (result: DoneResult) => void): Promise<Prepared | undefined> {
    const { config, git, refs } = this.#options;
    try {
      const kind = bindSpec(spec, config);
      const ctx: LookupContext = { config, git, store, refs };
      const key = await kind.buildKey(ctx);
      this.#waitingJobs.add({ jobId: spec.jobId, key, lookup: () => kind.lookup(ctx), answer });
      if (mustWait) await this.#waitingJobs.check(spec.jobId);
      return { kind, key };
    } catch {
      return undefined;
    }
  }

  async #execute(spec: JobSpec, store: ObjectStore, reporter: JobReporter, progress: ProgressFn, stop: AbortSignal, prepared: Prepared | undefined): Promise<void> {
    const { config, git, mirrors, refs } = this.#options;
    const timeout = jobTimeout(config.jobTimeoutMs);
    const signal = AbortSignal.any([timeout.signal, stop]);
    // Each multipart upload the build starts is recorded for the next attempt or instance, should this one die.
    store = trackUploads(store, { job: spec.jobId, renewMs: this.#options.heartbeat?.intervalMs ?? DEFAULT_UPLOAD_RENEW_MS });
    try {
      // Re-validate: a job event is input too, even when signed.
      const kind = prepared?.kind ?? bindSpec(spec, config);
      const ctx: BuildContext = { config, git, store, refs, mirrors, signal, progress };
      progress('resolving', { percent: 100, message: kind.resolved });
      // Single-flight by the build's key: a second job for it here waits, then finds it in the cache;
      // across instances, the build lease (lease.ts) does the same.
      const key = prepared?.key ?? (await kind.buildKey(ctx));
      const running = this.#building.get(key);
      if (running) {
        // Another job here builds it: this one reports that build's progress as its own meanwhile.
        const watch: ProgressFn = (phase, detail) => void (stop.aborted || progress(phase, detail));
        running.watchers.add(watch);
        progress(kind.phases[0] ?? 'queued', { percent: 0, message: 'another job on this worker is building this; following it' });
        await running.done.catch(() => undefined);
        running.watchers.delete(watch);
      }
      if (stop.aborted) return; // stopped while it waited for the other build: its end is already told
      const watchers = new Set<ProgressFn>();
      const shared: ProgressFn = (phase, detail) => {
        progress(phase, detail);
        for (const watch of watchers) watch(phase, detail);
      };
      const building = { ...ctx, progress: shared };
      const build = singleBuild({
        store,
        key,
        job: spec.jobId,
        signal,
        lookup: () => kind.lookup(building),
        build: (held) => kind.build({ ...building, signal: held }),
        onWaiting: () => shared(kind.phases[0] ?? 'queued', { percent: 0, message: 'another worker is building this; waiting for it' }),
      });
      const entry: Building = { done: build, watchers };
      this.#building.set(key, entry);
      try {
        const result = await build;
        reporter.emit({ v: 1, type: 'done', jobId: spec.jobId, ...result });
        // Jobs that wait for this artifact (queued here or still in the async queue) need no turn of their own.
        void this.#waitingJobs.settle(key);
      } finally {
        if (this.#building.get(key) === entry) this.#building.delete(key);
      }
    } catch (error) {
      // Stopped (time limit, shutdown): the reason says why, whatever part of the job noticed first.
      const failure = signal.aborted && signal.reason instanceof FerryError ? signal.reason : toFerryError(error);
      reporter.emit({ v: 1, type: 'error', jobId: spec.jobId, ...failure.toJSON() });
    } finally {
      timeout.clear();
    }
  }
}

/** Aborts after FERRY_JOB_TIMEOUT with a TIMEOUT that names it (AbortSignal.timeout's reason names nothing). */
function jobTimeout(ms: number): { signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    const limit = ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
    controller.abort(new FerryError('TIMEOUT', `The job ran longer than this service allows (${limit}, FERRY_JOB_TIMEOUT) and was stopped. Try again later, or ask for something smaller.`));
  }, ms);
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
