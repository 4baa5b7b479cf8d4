import { FerryError } from '../../protocol/errors.js';
import { applyMessage, isFinal, type ErrorMessage, type JobSpec, type JobState } from '../../protocol/job.js';
import type { ObjectStore } from '../storage/oss-store.js';
import type { NotifierLike } from './notify-listener.js';
import { initialState } from './runner.js';
import type { JobStateStore } from './state-store.js';

/*
 * A job ends even when every worker that ran it died. The worker holding a job rewrites its state every
 * heartbeat (reporter.ts, `heartbeatAt`), while it is queued there, runs, or waits to be retried after
 * its instance stopped it. Two things end a job nobody holds any more, as `error` WORKER_LOST:
 * - a reader (GET /jobs/:id on any instance) finding a non-final state whose heartbeat is older than
 *   the bound: it records the end and pushes it to the job's device;
 * - FC's on-failure destination, once its retries are spent: the function is invoked with the failed
 *   event (runtime/failure-event.ts), which records the end the same way.
 * States without a heartbeat (queued in FC's own async queue, never picked up yet) are not judged: FC
 * delivers or drops the event, and drops end at the destination too.
 */

export interface LivenessOptions {
  states: JobStateStore;
  notifier: NotifierLike | undefined;
  /** A non-final state whose heartbeat is older than this is lost. */
  lostAfterMs: number;
  clock?: () => number;
}

export interface Liveness {
  /** `state` as a reader should see it: lost (recorded and pushed now) if its heartbeat stopped. */
  check(store: ObjectStore | undefined, state: JobState): Promise<JobState>;
  /** FC gave up on the job's event: ends it as WORKER_LOST unless it already ended. */
  giveUp(store: ObjectStore, spec: JobSpec, detail: string): Promise<JobState>;
}

function isLost(state: JobState, now: number, lostAfterMs: number): boolean {
  if (state.heartbeatAt === undefined || isFinal(state)) return false;
  return now - state.heartbeatAt > lostAfterMs;
}

export function createLiveness(options: LivenessOptions): Liveness {
  const clock = options.clock ?? Date.now;
  const end = async (store: ObjectStore | undefined, state: JobState, failure: FerryError): Promise<JobState> => {
    const message: ErrorMessage = { v: 1, type: 'error', jobId: state.jobId, ...failure.toJSON() };
    const lost = { ...applyMessage(state, message), updatedAt: clock() };
    if (store) await options.states.save(store, lost);
    else options.states.remember(lost);
    if (state.deviceId && options.notifier) {
      options.notifier.send(state.deviceId, state.jobId, message, { important: true });
      await options.notifier.flush();
    }
    return lost;
  };
  return {
    async check(store, read) {
      if (options.states.runsHere(read.jobId) || !isLost(read, clock(), options.lostAfterMs)) return read;
      // Decided under the job's lock, on the state as it is now: a new attempt here may have claimed the
      // job (or ended it) since it was read, and it must not run on over a WORKER_LOST recorded meanwhile.
      return options.states.exclusive(read.jobId, async () => {
        const state = (await options.states.load(store, read.jobId)) ?? read;
        if (options.states.runsHere(state.jobId) || !isLost(state, clock(), options.lostAfterMs)) return state;
        const seconds = Math.round((clock() - (state.heartbeatAt as number)) / 1000);
        return end(store, state, workerLost(`it has not said it is alive for ${seconds} s (the bound is ${Math.round(options.lostAfterMs / 1000)} s)`));
      });
    },
    giveUp(store, spec, detail) {
      return options.states.exclusive(spec.jobId, async () => {
        const stored = await options.states.stored(store, spec.jobId);
        if (stored && isFinal(stored)) return stored;
        const state = stored ?? initialState(spec);
        const deviceId = state.deviceId ?? spec.deviceId;
        return end(store, { ...state, ...(deviceId && { deviceId }) }, workerLost(detail));
      });
    },
  };
}

function workerLost(why: string): FerryError {
  return new FerryError(
    'WORKER_LOST',
    `The worker running this job was lost (${why}): it crashed, ran out of memory or time, or was reclaimed, and no other attempt finished the job. Submit it again; if this repeats, report it with the job id.`,
  );
}
