import { FerryError } from '../../protocol/errors.js';

// Retryable (503): `redelivered` jobs came as an async invocation, which FC delivers again when
// `/invoke` fails, so they say `retrying`; jobs from the instance's own queue only the user can resubmit.
export function workerStopping(redelivered: boolean): FerryError {
  return new FerryError(
    'WORKER_STOPPING',
    redelivered
      ? 'The worker instance running this job is shutting down and stopped it; Function Compute retries the job on another instance. If it does not finish, submit it again.'
      : 'The worker instance running this job is shutting down and stopped it before it finished. Submit the job again.',
    { retrying: redelivered },
  );
}

/** Retry-After on a refused POST /jobs: FC routes the retry to another instance. */
const RETRY_AFTER_S = 2;

// Answered through the API's error shaping (api/http.ts), which sends retryAfter as Retry-After too.
export function refusedWhileStopping(): FerryError {
  return new FerryError('WORKER_STOPPING', 'This worker instance is shutting down and takes no new jobs. Try again in a moment: another instance will take it.', {
    retryAfter: RETRY_AFTER_S,
  });
}
