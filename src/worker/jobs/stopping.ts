import { FerryError } from '../../protocol/errors.js';

/**
 * The error a job ends with when its instance shuts down (FC's PreStop hook, SIGTERM). Retryable
 * (503): `redelivered` jobs came as an async invocation, which FC delivers again when `/invoke`
 * fails, so they say `retrying` and clients keep following the same job; the others ran on the
 * instance's own queue and only the user can submit them again.
 */
export function workerStopping(redelivered: boolean): FerryError {
  return new FerryError(
    'WORKER_STOPPING',
    redelivered
      ? 'The worker instance running this job is shutting down and stopped it; Function Compute retries the job on another instance. If it does not finish, submit it again.'
      : 'The worker instance running this job is shutting down and stopped it before it finished. Submit the job again.',
    { retrying: redelivered },
  );
}

/** What POST /jobs and job events get from an instance that is shutting down. */
export function refusedWhileStopping(): FerryError {
  return new FerryError('WORKER_STOPPING', 'This worker instance is shutting down and takes no new jobs. Try again in a moment: another instance will take it.');
}
