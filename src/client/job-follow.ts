// Pushes (`NF#`) are the fast path; `GET /jobs/:id` is the safety net: after every reconnect (pushes
// sent while we were away are lost), when nothing arrived for a while, and after a cached POST /jobs.
import { setTimeout as delay } from 'node:timers/promises';
import { errorFromJSON, FerryError, type ErrorCode } from '../protocol/errors.js';
import { GIT_TOKEN_HEADER } from '../protocol/git-token.js';
import type { ArchiveFormat, ArtifactFormat } from '../protocol/formats.js';
import type { DoneMessage, JobMessage } from '../protocol/job.js';
import { parseBody, parseMessage, stateToMessage } from '../protocol/job-messages.js';
import { ConnectionLostError, type ApiResponse, type DisconnectReason, type GatewayClient } from './gateway-client.js';

/** An archive (`format`, optional `ref`), a bundle (`kind: 'bundle'`, optional `have` and `refs`) or a file (`kind: 'file'`). */
export type JobSubmission = ArchiveSubmission | BundleSubmission | FileSubmission;

export interface FileSubmission {
  kind: 'file';
  /** Any file shape the worker understands: a release asset, a raw, /blob/ or /raw/ link, a source archive, a gist. */
  url: string;
}

export interface ArchiveSubmission {
  kind?: 'archive';
  url: string;
  ref?: string | undefined;
  format: ArchiveFormat;
}

export interface BundleSubmission {
  kind: 'bundle';
  url: string;
  /** Commits the client already has (at most 1000): the bundle leaves out what they reach. */
  have?: string[] | undefined;
  /** Full ref names to include; default every branch and tag. */
  refs?: string[] | undefined;
}

export interface SubmittedEvent {
  type: 'submitted';
  jobId: string;
  repo: string;
  ref: string;
  commit: string;
  format: ArtifactFormat;
}

export interface ReconnectEvent {
  type: 'reconnect';
  reason: DisconnectReason;
  attempt: number;
}

/** The job's instance stopped it and FC delivers it again to another one: still following it. */
export interface JobRetryEvent {
  type: 'job-retry';
  jobId: string;
  code: ErrorCode;
  message: string;
}

/** The job runs again from its start on another worker (its earlier worker died or was reclaimed). */
export interface JobResumedEvent {
  type: 'job-resumed';
  jobId: string;
  attempt: number;
}

/** POST /jobs reached an instance that is shutting down: submitting again after `delayMs`. */
export interface SubmitRetryEvent {
  type: 'submit-retry';
  attempt: number;
  delayMs: number;
  code: ErrorCode;
  message: string;
}

export type FollowEvent = JobMessage | SubmittedEvent | ReconnectEvent | JobRetryEvent | JobResumedEvent | SubmitRetryEvent;

export type GatewayClientLike = Pick<GatewayClient, 'deviceId' | 'request' | 'on'> & { gitToken?: string | undefined };

export interface FollowOptions {
  onEvent?: (event: FollowEvent) => void;
  /** Aborting rejects with TIMEOUT (pass `AbortSignal.timeout(ms)`). */
  signal?: AbortSignal;
  /** Ask `GET /jobs/:id` when no push arrived for this long. Default 10 s. */
  idlePollMs?: number;
}

export async function submitAndFollow(client: GatewayClientLike, submission: JobSubmission, options: FollowOptions = {}): Promise<DoneMessage> {
  const tracker = new JobTracker(client, options);
  try {
    const answer = await tracker.race(submitJob(client, submission, { onEvent: options.onEvent, signal: options.signal }));
    if (answer.type === 'done') {
      tracker.deliver(answer);
      return answer;
    }
    options.onEvent?.(answer);
    return await tracker.follow(answer.jobId);
  } finally {
    tracker.dispose();
  }
}

/** Follow a job submitted earlier (maybe by another connection): pushes if they reach us, else polling. */
export async function followJob(client: GatewayClientLike, jobId: string, options: FollowOptions = {}): Promise<DoneMessage> {
  const tracker = new JobTracker(client, options);
  try {
    const following = tracker.follow(jobId);
    void tracker.poll();
    return await following;
  } finally {
    tracker.dispose();
  }
}

/** How many times POST /jobs is tried while instances refuse it as shutting down, and the longest Retry-After honoured. */
const STOPPING_ATTEMPTS = 4;
const MAX_RETRY_AFTER_MS = 10_000;

export interface SubmitOptions {
  onEvent?: (event: SubmitRetryEvent) => void;
  /** Ends a wait between attempts (no job is submitted after it aborts). */
  signal?: AbortSignal | undefined;
}

// A call lost with its connection is sent again once reconnected; a 503 WORKER_STOPPING or BUSY after its Retry-After.
export async function submitJob(client: GatewayClientLike, submission: JobSubmission, options: SubmitOptions = {}): Promise<SubmittedEvent | DoneMessage> {
  const body = JSON.stringify(
    submission.kind === 'file'
      ? { kind: 'file', url: submission.url, deviceId: client.deviceId }
      : submission.kind === 'bundle'
      ? {
          kind: 'bundle',
          url: submission.url,
          ...(submission.have !== undefined && submission.have.length > 0 && { have: submission.have }),
          ...(submission.refs !== undefined && { refs: submission.refs }),
          deviceId: client.deviceId,
        }
      : {
          url: submission.url,
          ...(submission.ref !== undefined && { ref: submission.ref }),
          format: submission.format,
          deviceId: client.deviceId,
        },
  );
  for (let attempt = 1; ; attempt++) {
    // Repositories only: a file job takes no token, and the token goes to no host but the repository's.
    const res = await postJob(client, body, submission.kind === 'file' ? undefined : client.gitToken);
    try {
      return submitAnswer(res);
    } catch (error) {
      // A busy instance (a full queue) is as passing as a stopping one: another attempt may land elsewhere.
      const stopping = res.status === 503 && error instanceof FerryError && (error.code === 'WORKER_STOPPING' || error.code === 'BUSY');
      if (!stopping || attempt >= STOPPING_ATTEMPTS) throw error;
      const delayMs = retryAfterMs(res.headers['retry-after']);
      options.onEvent?.({ type: 'submit-retry', attempt: attempt + 1, delayMs, code: error.code, message: error.message });
      await delay(delayMs, undefined, { signal: options.signal });
    }
  }
}

async function postJob(client: GatewayClientLike, body: string, gitToken: string | undefined): Promise<ApiResponse> {
  for (let attempt = 1; ; attempt++) {
    try {
      // Pipelined: on a connection still opening, the job goes out right behind REGISTER (docs/protocol.md, round trips).
      return await client.request({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json; charset=utf-8', ...(gitToken && { [GIT_TOKEN_HEADER]: gitToken }) }, body }, { pipelined: true });
    } catch (error) {
      // At worst the lost call created a job nobody follows: it still completes, and the cache dedupes it.
      if (!(error instanceof ConnectionLostError) || attempt >= 3) throw error;
    }
  }
}

function submitAnswer(res: ApiResponse): SubmittedEvent | DoneMessage {
  const json = parseBody(res, 'POST /jobs');
  if (res.status === 202 && typeof json.jobId === 'string') {
    return { type: 'submitted', jobId: json.jobId, repo: String(json.repo), ref: String(json.ref), commit: String(json.commit), format: json.format as ArtifactFormat };
  }
  const message = res.status === 200 ? stateToMessage(json) : undefined;
  if (message?.type === 'done') return message;
  if (message?.type === 'error') throw errorFromJSON(message);
  throw new FerryError('INTERNAL', `POST /jobs answered ${res.status} without a job id.`);
}

export async function fetchJobState(client: GatewayClientLike, jobId: string): Promise<JobMessage> {
  const res = await client.request({ method: 'GET', path: `/jobs/${encodeURIComponent(jobId)}` });
  const message = stateToMessage(parseBody(res, `GET /jobs/${jobId}`));
  if (!message) throw new FerryError('INTERNAL', `GET /jobs/${jobId} answered a state ferry does not understand.`);
  return message;
}

class JobTracker {
  #jobId: string | undefined;
  #buffered: JobMessage[] = [];
  #settled = false;
  #resolve: (done: DoneMessage) => void = () => undefined;
  #reject: (error: Error) => void = () => undefined;
  readonly #result: Promise<DoneMessage>;
  readonly #unsubscribe: (() => void)[] = [];
  #idle: NodeJS.Timeout | undefined;
  #polling = false;
  /** A `retrying` error came and nothing since: the same error read back again is no news. */
  #awaitingRetry = false;
  /** The newest attempt heard of: a later one means the job started over. */
  #attempt = 1;

  constructor(
    private readonly client: GatewayClientLike,
    private readonly options: FollowOptions,
  ) {
    this.#result = new Promise<DoneMessage>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#result.catch(() => undefined); // observed by follow() or race()
    this.#unsubscribe.push(
      client.on('message', (text) => {
        const message = parseMessage(text);
        if (!message) return;
        if (this.#jobId === undefined) this.#buffered.push(message);
        else if (message.jobId === this.#jobId) this.deliver(message);
      }),
      client.on('reconnect', (info) => {
        if (this.#settled) return;
        options.onEvent?.({ type: 'reconnect', reason: info.reason, attempt: info.attempt });
        void this.poll();
      }),
      client.on('failed', (error) => this.#finish(error)),
    );
    const { signal } = options;
    if (signal) {
      const onAbort = (): void => {
        const timedOut = (signal.reason as Error | undefined)?.name === 'TimeoutError';
        this.#finish(new FerryError('TIMEOUT', timedOut ? 'Gave up waiting for the job (--timeout). It may still finish on the server.' : 'Stopped waiting for the job.'));
      };
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unsubscribe.push(() => signal.removeEventListener('abort', onAbort));
    }
  }

  /** Rejects as soon as the job can no longer be followed (timeout, gateway gone), even mid-call. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.#result.then(() => new Promise<T>(() => undefined))]);
  }

  follow(jobId: string): Promise<DoneMessage> {
    this.#jobId = jobId;
    for (const message of this.#buffered.splice(0)) if (message.jobId === jobId) this.deliver(message);
    this.#armIdle();
    return this.#result;
  }

  deliver(message: JobMessage): void {
    if (this.#settled) return;
    if (message.type === 'error' && message.retrying === true) {
      if (!this.#awaitingRetry) this.options.onEvent?.({ type: 'job-retry', jobId: message.jobId, code: message.code, message: message.message });
      this.#awaitingRetry = true;
      this.#armIdle();
      return;
    }
    this.#awaitingRetry = false;
    if (message.type === 'progress' && message.attempt !== undefined && message.attempt > this.#attempt) {
      this.#attempt = message.attempt;
      this.options.onEvent?.({ type: 'job-resumed', jobId: message.jobId, attempt: message.attempt });
    }
    this.options.onEvent?.(message);
    if (message.type === 'done') this.#finish(undefined, message);
    else if (message.type === 'error') this.#finish(errorFromJSON(message));
    else this.#armIdle();
  }

  async poll(): Promise<void> {
    const jobId = this.#jobId;
    if (jobId === undefined || this.#settled || this.#polling) return;
    this.#polling = true;
    try {
      this.deliver(await fetchJobState(this.client, jobId));
    } catch (error) {
      // A dropped connection polls again on reconnect; a vanished job or a refusal is final.
      if (error instanceof FerryError && (error.code === 'JOB_NOT_FOUND' || error.code === 'UNAUTHORIZED')) this.#finish(error);
    } finally {
      this.#polling = false;
      this.#armIdle();
    }
  }

  dispose(): void {
    if (this.#idle) clearTimeout(this.#idle);
    for (const off of this.#unsubscribe.splice(0)) off();
  }

  #armIdle(): void {
    if (this.#idle) clearTimeout(this.#idle);
    if (this.#settled || this.#jobId === undefined) return;
    this.#idle = setTimeout(() => void this.poll(), this.options.idlePollMs ?? 10_000);
  }

  #finish(error: Error | undefined, done?: DoneMessage): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#idle) clearTimeout(this.#idle);
    if (done) this.#resolve(done);
    else this.#reject(error ?? new FerryError('INTERNAL', 'The job ended without a result.'));
  }
}

/** Retry-After in seconds (what the worker sends), within bounds; 2 s when missing or a date. */
function retryAfterMs(header: string | undefined): number {
  const seconds = Number(header);
  const ms = header !== undefined && header.trim() !== '' && Number.isFinite(seconds) ? seconds * 1000 : 2000;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}
