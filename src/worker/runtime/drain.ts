import { setTimeout as delay } from 'node:timers/promises';

export interface DrainableRunner {
  readonly active: number;
  readonly pending: number;
  close(): Promise<void>;
  abort(): Promise<void>;
  idle(): Promise<void>;
}

export interface DrainOptions {
  runner: DrainableRunner;
  /** Delivers the pushes still queued (the NOTIFY client's flush); must not throw. */
  flush(): Promise<void>;
  log(line: string): void;
}

export interface DrainBudget {
  graceMs: number;
  cleanupMs: number;
}

export interface DrainResult {
  finished: number;
  stopped: number;
}

export interface Drainer {
  readonly stopping: boolean;
  /** Safe to call again (PreStop, then SIGTERM): a later call waits for the same jobs with its own budget. */
  drain(budget: DrainBudget): Promise<DrainResult>;
}

export function createDrainer(options: DrainOptions): Drainer {
  const { runner, log } = options;
  let stopping = false;
  return {
    get stopping() {
      return stopping;
    },
    async drain({ graceMs, cleanupMs }) {
      stopping = true;
      const queued = runner.pending;
      const running = runner.active;
      if (queued + running > 0) log(`drain: taking no new jobs; ${running} running, ${queued} queued (grace ${graceMs} ms)`);
      // Queued jobs end now; their states are written within the cleanup budget, not the grace's.
      await within(runner.close(), cleanupMs);
      let stopped = queued;
      const idle = await within(runner.idle(), graceMs);
      const deadline = Date.now() + cleanupMs;
      if (!idle) {
        stopped += runner.active;
        // Their states are stored before their work unwinds: a slow abort must not lose them.
        await within(runner.abort(), cleanupMs);
        await within(runner.idle(), deadline - Date.now());
      }
      await within(options.flush(), Math.max(deadline - Date.now(), 500));
      const finished = Math.max(0, running - (stopped - queued));
      if (queued + running > 0) log(`drain: done; ${finished} finished, ${stopped} stopped with WORKER_STOPPING`);
      return { finished, stopped };
    },
  };
}

async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms <= 0) return false;
  return Promise.race([promise.then(() => true, () => true), delay(ms, false, { ref: false })]);
}
