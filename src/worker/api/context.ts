import type { Config, OssCredentials } from '../config.js';
import type { Dispatcher } from '../jobs/dispatch.js';
import type { NotifierLike } from '../jobs/notify-listener.js';
import type { JobRunner } from '../jobs/runner.js';
import type { JobStateStore } from '../jobs/state-store.js';
import type { ObjectStore } from '../storage/client.js';

/** What the API needs from the process around it; the runtime and tests build it. */
export interface ApiDeps {
  config: Config;
  runner: JobRunner;
  states: JobStateStore;
  dispatcher: Dispatcher;
  notifier: NotifierLike | undefined;
  /** Throws STORAGE_NOT_CONFIGURED when there is no bucket, endpoint or key. */
  storeFor(credentials: OssCredentials | undefined): ObjectStore;
  log?: (line: string) => void;
}

/** Per-request facts from the transport: FC's per-invocation credentials, the request id. */
export interface RequestContext {
  credentials?: OssCredentials | undefined;
  requestId?: string | undefined;
}

export type ApiHandler = (request: Request, context?: RequestContext) => Promise<Response>;
