import PQueue from 'p-queue';
import { setTimeout as delay } from 'node:timers/promises';
import { UpstreamTimeoutError } from './upstream.js';

/** One delivery attempt; resolves with the runtime's status, rejects if it could not be reached. */
export type DeliveryAttempt = () => Promise<number>;

/** How an invocation ended after its last attempt, for FC's on-failure destination. */
export interface GaveUp {
  attempts: number;
  /** The last attempt's failure, in words. */
  failure: string;
  /** The runtime's last status, when it answered at all. */
  status?: number;
}

export interface AsyncQueueOptions {
  concurrency: number;
  log: (line: string) => void;
}

// FC retries an async invocation up to 3 times when the instance fails it. Backoff is short here:
// waiting for a restarting runtime happens inside the attempt itself.
const MAX_RETRIES = 3;
const BACKOFF_MS = [100, 200, 400];

// FC would run each invocation in its own instance; one local instance with a bound keeps load sane.
export class AsyncInvocationQueue {
  private readonly queue: PQueue;
  private closed = false;

  constructor(private readonly opts: AsyncQueueOptions) {
    this.queue = new PQueue({ concurrency: opts.concurrency });
  }

  /** `onGiveUp`: FC's on-failure destination, called once the retries are spent. */
  enqueue(requestId: string, attempt: DeliveryAttempt, onGiveUp?: (outcome: GaveUp) => Promise<void>): void {
    void this.queue.add(() => this.deliver(requestId, attempt, onGiveUp));
  }

  /** Drops what has not started and waits for what has (their retries stop). */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    await this.queue.onIdle();
  }

  private async deliver(requestId: string, attempt: DeliveryAttempt, onGiveUp?: (outcome: GaveUp) => Promise<void>): Promise<void> {
    for (let n = 0, attempts = 1; ; n++, attempts++) {
      if (this.closed) return;
      let failure: string;
      let status: number | undefined;
      try {
        status = await attempt();
        if (status < 500) return;
        failure = `runtime answered ${status}`;
      } catch (err) {
        if (this.closed) return;
        failure = (err as Error).message;
        // A timed-out invocation may still be running; sending it again would run it twice.
        if (err instanceof UpstreamTimeoutError) n = MAX_RETRIES;
      }
      if (n >= MAX_RETRIES) {
        this.opts.log(`[fc-emulator] async invocation ${requestId} failed after ${attempts} attempt(s): ${failure}`);
        if (onGiveUp && !this.closed) {
          await onGiveUp({ attempts, failure, ...(status !== undefined && { status }) }).catch((err: unknown) => {
            this.opts.log(`[fc-emulator] on-failure destination for ${requestId}: ${(err as Error).message}`);
          });
        }
        return;
      }
      await delay(BACKOFF_MS[n] ?? 400);
    }
  }
}
