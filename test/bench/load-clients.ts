// The bench's websocket clients for `npm run bench:load`: each submits its jobs one after another over
// its own gateway connection and waits for each job's final push (done or error), as `ferry get` does.
import { GatewayClient, type ApiResponse, type Pushed } from './gateway-client.js';
import { now } from './measure.js';

export interface PlannedJob {
  repo: string;
  format: 'zip' | 'tar.gz';
  /** repo + format: jobs with one key ask for one artifact. */
  key: string;
}

export interface JobRecord extends PlannedJob {
  jobId?: string;
  submittedAt: number;
  /** When the final push arrived (or the poll that found the final state). */
  finishedAt?: number;
  /** done, error; lost: no final push and none by GET /jobs/:id either; refused: POST /jobs never accepted. */
  status: 'done' | 'error' | 'lost' | 'refused';
  /** POST /jobs answered 200 with the result: the artifact existed when the job was submitted. */
  answeredAtSubmit: boolean;
  cached?: boolean;
  code?: string;
  message?: string;
  url?: string;
  sha256?: string;
  /** POST /jobs answered 5xx (a worker restarting) and was sent again. */
  resubmits: number;
  /** The final push never came; GET /jobs/:id had the final state. */
  foundByPoll: boolean;
}

interface Final {
  type: 'done' | 'error';
  jobId: string;
  url?: string;
  sha256?: string;
  cached?: boolean;
  code?: string;
  message?: string;
  at: number;
}

const RESUBMITS = 10;
/** An API frame never answered (the connection dropped): given up on after this long. */
const CALL_TIMEOUT_MS = 60_000;
const RESUBMIT_DELAY_MS = 1000;

/** One connection and its jobs' final pushes, found by job id whenever they arrive. */
export class LoadClient {
  readonly #finals = new Map<string, Final>();
  readonly #waiters = new Map<string, (final: Final) => void>();

  private constructor(readonly gateway: GatewayClient) {
    gateway.onPush = (push) => this.#onPush(push);
  }

  static async connect(url: string, deviceId: string, creds: { appKey: string; appSecret: string }): Promise<LoadClient> {
    return new LoadClient(await GatewayClient.connect(url, deviceId, creds));
  }

  get pushes(): number {
    return this.gateway.pushes.length;
  }

  get finalPushes(): number {
    return this.#finals.size;
  }

  async run(job: PlannedJob, deviceId: string, timeoutMs: number): Promise<JobRecord> {
    const record: JobRecord = { ...job, submittedAt: now(), status: 'refused', answeredAtSubmit: false, resubmits: 0, foundByPoll: false };
    const body = JSON.stringify({ url: job.repo, format: job.format, deviceId });
    let jobId: string | undefined;
    for (;;) {
      const response = await this.#call('POST', '/jobs', body);
      if (response.status === 200 || response.status === 202) {
        jobId = (JSON.parse(response.body) as { jobId: string }).jobId;
        record.answeredAtSubmit = response.status === 200;
        break;
      }
      if (response.status < 500 || record.resubmits >= RESUBMITS) {
        record.code = `HTTP ${response.status}`;
        record.message = response.body.slice(0, 200);
        return record;
      }
      record.resubmits += 1;
      await new Promise((resolve) => setTimeout(resolve, RESUBMIT_DELAY_MS));
    }
    record.jobId = jobId;
    const final = await this.#final(jobId, timeoutMs);
    if (final) return settle(record, final, false);
    // No push: ask for the state, as a client that lost its connection does.
    const answer = await this.#call('GET', `/jobs/${jobId}`, '');
    const state = answer.status === 200 ? (JSON.parse(answer.body) as { status?: string; error?: { code: string; message: string } } & Partial<Final>) : undefined;
    if (state?.status === 'done' || state?.status === 'error') {
      return settle(record, { ...state, type: state.status, jobId, at: now(), code: state.error?.code ?? state.code, message: state.error?.message ?? state.message }, true);
    }
    record.status = 'lost';
    record.code = `still ${state?.status ?? `HTTP ${answer.status}`}`;
    return record;
  }

  close(): void {
    this.gateway.close();
  }

  /** An API frame; a call left unanswered counts as status 0 (a 5xx-like failure: sent again). */
  #call(method: string, path: string, body: string): Promise<ApiResponse> {
    return Promise.race([
      this.gateway.call(method, path, body),
      new Promise<ApiResponse>((resolve) => setTimeout(() => resolve({ status: 599, header: {}, body: `no answer within ${CALL_TIMEOUT_MS} ms (connection closed: ${this.gateway.closedWith ?? 'no'})` }), CALL_TIMEOUT_MS).unref()),
    ]);
  }

  #final(jobId: string, timeoutMs: number): Promise<Final | undefined> {
    const known = this.#finals.get(jobId);
    if (known) return Promise.resolve(known);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(jobId);
        resolve(undefined);
      }, timeoutMs);
      this.#waiters.set(jobId, (final) => {
        clearTimeout(timer);
        resolve(final);
      });
    });
  }

  #onPush(push: Pushed): void {
    const message = JSON.parse(push.body) as Omit<Final, 'at'> | { type: 'progress' };
    if (message.type === 'progress') return;
    const final = { ...message, at: push.at };
    // The first final wins; a job never has two.
    if (this.#finals.has(final.jobId)) return;
    this.#finals.set(final.jobId, final);
    const waiter = this.#waiters.get(final.jobId);
    this.#waiters.delete(final.jobId);
    waiter?.(final);
  }
}

function settle(record: JobRecord, final: Final, foundByPoll: boolean): JobRecord {
  return {
    ...record,
    status: final.type,
    finishedAt: final.at,
    foundByPoll,
    ...(final.cached !== undefined && { cached: final.cached }),
    ...(final.code !== undefined && { code: final.code }),
    ...(final.message !== undefined && final.type === 'error' && { message: final.message }),
    ...(final.url !== undefined && { url: final.url }),
    ...(final.sha256 !== undefined && { sha256: final.sha256 }),
  };
}
