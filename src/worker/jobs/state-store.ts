import type { ObjectStore } from '../storage/oss-store.js';
import { KeyedLock } from '../../util/keyed-lock.js';
import { DEFAULT_KIND } from '../artifacts/registry.js';
import { jobStateKey } from '../storage/keys.js';
import type { JobState } from '../../protocol/job.js';

// In OSS so any instance can answer GET /jobs/:id, even after the one that ran the job is gone; the
// jobs this instance runs are answered from memory (clients poll running jobs).
export class JobStateStore {
  readonly #memory = new Map<string, JobState>();
  readonly #running = new Set<string>();
  readonly #decisions = new KeyedLock();
  readonly #limit: number;

  constructor(limit = 1000) {
    this.#limit = limit;
  }

  /** Remember and write: for states this instance decides outside a run (queued, cached, failed to queue). */
  async save(store: ObjectStore, state: JobState): Promise<void> {
    this.remember(state);
    await this.write(store, state);
  }

  /** Write only: a running job's reporter writes states it has already remembered, possibly older ones. */
  async write(store: ObjectStore, state: JobState): Promise<void> {
    await store.put(jobStateKey(state.jobId), Buffer.from(JSON.stringify(state)), { 'Content-Type': 'application/json' });
  }

  /** `running`: this instance runs the job, so its copy is authoritative until the job ends. */
  remember(state: JobState, running = false): void {
    if (running && state.status !== 'done' && state.status !== 'error') this.#running.add(state.jobId);
    else this.#running.delete(state.jobId);
    this.#memory.delete(state.jobId);
    this.#memory.set(state.jobId, state);
    if (this.#memory.size > this.#limit) {
      const oldest = this.#memory.keys().next().value as string;
      this.#memory.delete(oldest);
      this.#running.delete(oldest);
    }
  }

  /** This instance runs the job now: its state here is alive whatever its heartbeat says. */
  runsHere(jobId: string): boolean {
    return this.#running.has(jobId);
  }

  /**
   * Runs `work` alone among this instance's decisions on the job: a run reading what an earlier attempt left
   * and claiming the job, a reader ending it as lost. Without it a reader could record WORKER_LOST between
   * a new attempt's read and its claim, and the attempt would run on over that end.
   */
  exclusive<T>(jobId: string, work: () => Promise<T>): Promise<T> {
    return this.#decisions.run(jobId, work);
  }

  /** What the bucket holds for the job, ignoring this instance's memory. */
  async stored(store: ObjectStore, jobId: string): Promise<JobState | undefined> {
    const text = await store.getText(jobStateKey(jobId));
    return text === undefined ? undefined : withKind(JSON.parse(text) as JobState);
  }

  async load(store: ObjectStore | undefined, jobId: string): Promise<JobState | undefined> {
    const local = this.#memory.get(jobId);
    if (local && (local.status === 'done' || local.status === 'error' || this.#running.has(jobId) || !store)) return local;
    if (!store) return undefined;
    const stored = await this.stored(store, jobId);
    // This instance may be running the job and know more than the last phase it stored.
    if (local && (!stored || local.updatedAt >= stored.updatedAt)) return local;
    return stored;
  }
}

function withKind(state: JobState): JobState {
  return state.kind === undefined ? { ...state, kind: DEFAULT_KIND } : state;
}
