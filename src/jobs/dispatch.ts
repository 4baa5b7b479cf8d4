import type { DispatchConfig } from '../config.js';
import { FerryError } from '../errors.js';
import type { ObjectStore } from '../storage/client.js';
import { encodeJobEvent } from './job-event.js';
import type { JobSpec } from './types.js';

/** Starts a job without the request that created it waiting for it. */
export interface Dispatcher {
  dispatch(spec: JobSpec, store: ObjectStore): Promise<void>;
}

/** For a worker with no FC in front (a laptop, a unit test): the job runs on this process's queue. */
export function inProcessDispatcher(run: (spec: JobSpec, store: ObjectStore) => Promise<unknown>, log: (line: string) => void = console.error): Dispatcher {
  return {
    async dispatch(spec, store) {
      run(spec, store).catch((error: unknown) => log(`job ${spec.jobId} crashed: ${String(error)}`));
    },
  };
}

/**
 * An asynchronous FC invocation: FC answers 202, queues the event and delivers it to an instance as
 * `POST /invoke`, so the job does not depend on this request's instance staying alive.
 */
export function asyncInvokeDispatcher(config: DispatchConfig, fetchImpl: typeof fetch = fetch): Dispatcher {
  return {
    async dispatch(spec) {
      let response: Response;
      try {
        response = await fetchImpl(config.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-fc-invocation-type': 'Async' },
          body: encodeJobEvent(spec, config.secret),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (error) {
        throw new FerryError('INTERNAL', 'The job could not be queued (the function service did not answer). Try again.', { cause: error });
      }
      await response.body?.cancel();
      if (response.status !== 202 && !response.ok) {
        throw new FerryError('INTERNAL', `The job could not be queued (the function service answered ${response.status}). Try again.`);
      }
    },
  };
}
