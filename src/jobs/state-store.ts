import type { ObjectStore } from '../storage/client.js';
import { jobStateKey } from '../storage/keys.js';
import type { JobState } from './types.js';

/**
 * Job state lives in OSS (`jobs/<id>.json`) so any instance can answer GET /jobs/:id, including
 * after the instance that ran the job is gone. A recent copy is kept in memory for this instance.
 */
export class JobStateStore {
  readonly #memory = new Map<string, JobState>();
  readonly #limit: number;

  constructor(limit = 1000) {
    this.#limit = limit;
  }

  async save(store: ObjectStore, state: JobState): Promise<void> {
    this.remember(state);
    await store.put(jobStateKey(state.jobId), Buffer.from(JSON.stringify(state)), { 'Content-Type': 'application/json' });
  }

  remember(state: JobState): void {
    this.#memory.delete(state.jobId);
    this.#memory.set(state.jobId, state);
    if (this.#memory.size > this.#limit) {
      const oldest = this.#memory.keys().next().value as string;
      this.#memory.delete(oldest);
    }
  }

  local(jobId: string): JobState | undefined {
    return this.#memory.get(jobId);
  }

  async load(store: ObjectStore | undefined, jobId: string): Promise<JobState | undefined> {
    const local = this.#memory.get(jobId);
    if (local && (local.status === 'done' || local.status === 'error' || !store)) return local;
    if (!store) return undefined;
    const text = await store.getText(jobStateKey(jobId));
    const stored = text === undefined ? undefined : (JSON.parse(text) as JobState);
    // This instance may be running the job and know more than the last phase it stored.
    if (local && (!stored || local.updatedAt >= stored.updatedAt)) return local;
    return stored;
  }
}
