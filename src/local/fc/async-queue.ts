import PQueue from 'p-queue';
import { setTimeout as delay } from 'node:timers/promises';
import { UpstreamTimeoutError } from './upstream.js';

/** One delivery attempt; resolves with the runtime's status, rejects if it could not be reached. */
export type DeliveryAttempt = () => Promise<number>;

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

  enqueue(requestId: string, attempt: DeliveryAttempt): void {
    void this.queue.add(() => this.deliver(requestId, attempt));
  }

  /** Drops what has not started and waits for what has (their retries stop). */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.clear();
    await this.queue.onIdle();
  }

  private async deliver(requestId: string, attempt: DeliveryAttempt): Promise<void> {
    for (let n = 0; ; n++) {
      if (this.closed) return;
      let failure: string;
      try {
        const status = await attempt();
        if (status < 500) return;
        failure = `runtime answered ${status}`;
      } catch (err) {
        if (this.closed) return;
        failure = (err as Error).message;
        // A timed-out invocation may still be running; sending it again would run it twice.
        if (err instanceof UpstreamTimeoutError) n = MAX_RETRIES;
      }
      if (n >= MAX_RETRIES) {
        this.opts.log(`[fc-emulator] async invocation ${requestId} failed after ${n + 1} attempt(s): ${failure}`);
        return;
      }
      await delay(BACKOFF_MS[n] ?? 400);
    }
  }
}
