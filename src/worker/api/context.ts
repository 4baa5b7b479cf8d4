import type { Credentials } from '../../protocol/credentials.js';
import type { FindJob, SubmitJob } from '../jobs/submit.js';
import type { RefsAnswer } from '../../protocol/remote-refs.js';

/** What the API calls; the composition root wires the real ones, tests pass small fakes. */
export interface ApiDeps {
  submit: SubmitJob;
  /** GET /jobs/:id; rejects with JOB_NOT_FOUND. */
  findJob: FindJob;
  /** GET /refs?url=: the repository's branches and tags; rejects like a job submission would. */
  listRefs(url: string | null, token?: string | null): Promise<RefsAnswer>;
  load(): { active: number; pending: number };
  log?: ((line: string) => void) | undefined;
}

export interface RequestContext {
  credentials?: Credentials | undefined;
  requestId?: string | undefined;
}

export type ApiHandler = (request: Request, context?: RequestContext) => Promise<Response>;
