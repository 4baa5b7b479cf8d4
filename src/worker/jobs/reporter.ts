import type { ObjectStore } from '../storage/oss-store.js';
import type { JobStateStore } from './state-store.js';
import { applyMessage, type JobMessage, type JobState } from '../../protocol/job.js';

/** Where progress goes besides the state: the NOTIFY client in production, a log line, a test. */
export interface JobListener {
  (message: JobMessage, state: JobState, important: boolean): void;
}

export interface HeartbeatOptions {
  /** How often the state is rewritten while the job is not over. */
  intervalMs: number;
  /** Milliseconds since the epoch; default `Date.now`. */
  clock?: () => number;
}

// Phase changes and the final message are persisted to OSS and always delivered; intermediate
// progress only updates memory and is left to listeners to throttle. Every write carries `heartbeatAt`,
// and while the job is not over the state is rewritten every heartbeat, so a reader can tell a job
// whose worker died (liveness.ts) from one in a long phase.
export class JobReporter {
  #state: JobState;
  #persisting: Promise<void> = Promise.resolve();
  #beating: NodeJS.Timeout | undefined;
  readonly #store: ObjectStore;
  readonly #states: JobStateStore;
  readonly #listeners: JobListener[];
  readonly #reached: [string, number][] = [];
  readonly #heartbeat: HeartbeatOptions | undefined;
  readonly #clock: () => number;

  constructor(initial: JobState, store: ObjectStore, states: JobStateStore, listeners: JobListener[], heartbeat?: HeartbeatOptions) {
    this.#state = initial;
    this.#store = store;
    this.#states = states;
    this.#listeners = listeners;
    this.#heartbeat = heartbeat;
    this.#clock = heartbeat?.clock ?? Date.now;
  }

  /** Writes the state now, then every heartbeat until the job ends (or `stop()`). */
  startHeartbeat(): void {
    if (!this.#heartbeat || this.#beating || isOver(this.#state)) return;
    this.#persist(this.#state);
    this.#beating = setInterval(() => this.#persist(this.#state), this.#heartbeat.intervalMs);
    this.#beating.unref();
  }

  stop(): void {
    if (this.#beating) clearInterval(this.#beating);
    this.#beating = undefined;
  }

  get state(): JobState {
    return this.#state;
  }

  emit(message: JobMessage): void {
    const previous = this.#state;
    // The first outcome wins: a job stopped by the instance's shutdown is already `error` while its
    // pipeline unwinds, and nothing it says afterwards may turn it back into `running`.
    if (isOver(previous)) return;
    const next = applyMessage(previous, message);
    const important =
      message.type !== 'progress' || previous.phase !== next.phase || previous.queuePosition !== next.queuePosition || previous.attempt !== next.attempt;
    // What is stored only changes with the phase, the queue position (none and 0 alike) or the outcome:
    // the runner's first `queued` (position 0) repeats the state POST /jobs has just stored.
    const changed =
      message.type !== 'progress' || previous.phase !== next.phase || (previous.queuePosition ?? 0) !== (next.queuePosition ?? 0) || previous.attempt !== next.attempt;
    this.#state = next;
    const mark = message.type === 'progress' ? message.phase : message.type;
    if (this.#reached.at(-1)?.[0] !== mark) this.#reached.push([mark, performance.now()]);
    this.#states.remember(next, true);
    // A stopped job's heartbeat ends with it: a `retrying` error then waits for the next attempt, within the bound.
    if (isOver(next)) this.stop();
    if (changed) this.#persist(next);
    for (const listener of this.#listeners) {
      try {
        listener(message, next, important);
      } catch {
        // A listener's bug must not fail the job.
      }
    }
  }

  timings(): string {
    return this.#reached
      .slice(0, -1)
      .map(([phase, at], i) => `${phase}=${Math.round((this.#reached[i + 1] as [string, number])[1] - at)}ms`)
      .join(' ');
  }

  async flush(): Promise<void> {
    await this.#persisting;
  }

  /** Chained so the stored state never goes backwards; a failed write is retried by the next one. */
  #persist(state: JobState): void {
    const beat = this.#heartbeat ? { ...state, heartbeatAt: this.#clock() } : state;
    this.#persisting = this.#persisting.then(() => this.#states.write(this.#store, beat)).catch(() => undefined);
  }
}

function isOver(state: JobState): boolean {
  return state.status === 'done' || state.status === 'error';
}
