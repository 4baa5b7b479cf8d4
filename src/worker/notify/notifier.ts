/**
 * The worker's NOTIFY client. Each call is a signed POST to the gateway's NOTIFY API with
 * `x-ca-deviceid: <target>` and the JSON message as the body; the gateway pushes it as `NF#<body>`.
 *
 * Per (device, job) there is one ordered queue and one sender:
 * - important messages (phase changes, done, error) are always sent, in order, without delay: a
 *   user waits on each of them, and a job has only a handful;
 * - an intermediate progress message replaces any unsent intermediate (latest wins) and is dropped
 *   when an important message is queued behind it (it is stale by then);
 * - intermediates are spaced by `minIntervalMs` from the previous send (≤ 4/s per job by default),
 *   so a busy job cannot flood a client's connection;
 * - network errors, 429 and 5xx are retried with exponential backoff and a fresh nonce (a retried
 *   nonce would be refused as `Nonce Used`); 404 means the device is gone and is not retried.
 * Nothing here throws into the job: failures are logged and dropped.
 */
import { firstValues } from '../../protocol/_apigw-canonical.js';
import { deliver, type DeliverOptions } from './_deliver.js';
import { systemClock, type NotifierClock } from './clock.js';

export interface NotifierOptions {
  /** The NOTIFY API URL (FERRY_NOTIFY_URL). */
  url: string;
  appKey: string;
  appSecret: string;
  fetch?: typeof fetch;
  /** Least time between two messages of one job. Default 250 (4 messages per second). */
  minIntervalMs?: number;
  /** Retries after the first attempt. Default 4. */
  retries?: number;
  /** First backoff delay; doubles per retry. Default 200. */
  backoffMs?: number;
  /** Per-attempt timeout. Default 10 000. */
  timeoutMs?: number;
  /** X-Ca-Stage to call (RELEASE by default on the gateway side). */
  stage?: string;
  log?: (line: string) => void;
  /** Time for the spacing, the backoff and the housekeeping. Default: the system clock. */
  clock?: NotifierClock;
}

export interface SendOptions {
  /** Phase changes and final messages: never dropped, never throttled away. */
  important: boolean;
}

export interface Notifier {
  send(deviceId: string, jobId: string, message: object, opts: SendOptions): void;
  /** Resolves once every queued message was sent or given up on. Never rejects. */
  flush(): Promise<void>;
}

interface Item {
  body: string;
  important: boolean;
}

interface Lane {
  deviceId: string;
  jobId: string;
  items: Item[];
  /** -Infinity until the first send: the first message never waits. */
  lastSentAt: number;
  /** Ends an intermediate's wait early when an important message arrives. */
  wake?: (() => void) | undefined;
}

export function createNotifier(options: NotifierOptions): Notifier {
  const minIntervalMs = checkNumber('minIntervalMs', options.minIntervalMs ?? 250);
  const retries = checkNumber('retries', options.retries ?? 4);
  const clock = options.clock ?? systemClock;
  const url = new URL(options.url);
  const deliverOptions: DeliverOptions = {
    url,
    query: firstValues(url.searchParams),
    creds: { appKey: options.appKey, appSecret: options.appSecret },
    fetch: options.fetch ?? globalThis.fetch,
    retries,
    backoffMs: checkNumber('backoffMs', options.backoffMs ?? 200),
    timeoutMs: checkNumber('timeoutMs', options.timeoutMs ?? 10_000),
    stage: options.stage,
    log: options.log ?? ((line) => console.warn(line)),
    clock,
  };
  const lanes = new Map<string, Lane>();
  const running = new Map<string, Promise<void>>();

  async function pump(key: string, lane: Lane): Promise<void> {
    while (lane.items.length > 0) {
      // Only intermediate progress is spaced (≤ 1 per minIntervalMs); phase changes and final
      // messages go at once, and one arriving during the wait cuts it short.
      const wait = lane.lastSentAt + minIntervalMs - clock.now();
      if (wait > 0 && !lane.items[0]?.important) {
        await new Promise<void>((resolve) => {
          const cancel = clock.after(wait, resolve);
          lane.wake = () => {
            cancel();
            resolve();
          };
        });
        lane.wake = undefined;
      }
      // Taken only now: an intermediate queued while we waited replaces the older one.
      const item = lane.items.shift();
      if (!item) break;
      await deliver(deliverOptions, lane.deviceId, lane.jobId, item.body);
      lane.lastSentAt = clock.now();
    }
    running.delete(key);
    // The lane (and its lastSentAt) outlives the sender for one interval, so a message arriving
    // just after the queue ran dry is still spaced; then it is forgotten to keep memory flat.
    clock.after(
      minIntervalMs,
      () => {
        if (!running.has(key) && lanes.get(key) === lane) lanes.delete(key);
      },
      true,
    );
  }

  return {
    send(deviceId, jobId, message, opts) {
      let body: string;
      try {
        body = JSON.stringify(message);
      } catch (error) {
        deliverOptions.log(`notify: job ${jobId}: message not serialisable, dropped (${String(error)})`);
        return;
      }
      const key = `${deviceId}\n${jobId}`;
      let lane = lanes.get(key);
      if (!lane) {
        lane = { deviceId, jobId, items: [], lastSentAt: -Infinity };
        lanes.set(key, lane);
      }
      // Either way, unsent intermediates are now stale.
      lane.items = lane.items.filter((item) => item.important);
      lane.items.push({ body, important: opts.important });
      if (opts.important) lane.wake?.();
      if (!running.has(key)) running.set(key, pump(key, lane));
    },

    async flush() {
      // Loop: a lane may start while we wait for others.
      while (running.size > 0) await Promise.all(running.values());
    },
  };
}

function checkNumber(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`Expected \`${name}\` to be a non-negative number, got ${value}`);
  return value;
}
