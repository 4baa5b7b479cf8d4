import type { Credentials } from '../../protocol/credentials.js';
import type { FindJob, SubmitJob } from '../jobs/submit.js';

/** What the API calls; the composition root wires the real ones, tests pass small fakes. */
export interface ApiDeps {
  submit: SubmitJob;
  /** GET /jobs/:id; rejects with JOB_NOT_FOUND. */
  findJob: FindJob;
  load(): { active: number; pending: number };
  log?: ((line: string) => void) | undefined;
}

export interface RequestContext {
  credentials?: Credentials | undefined;
  requestId?: string | undefined;
}

export type ApiHandler = (request: Request, context?: RequestContext) => Promise<Response>;
