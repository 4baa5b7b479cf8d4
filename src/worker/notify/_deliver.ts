/**
 * One NOTIFY message to one device, with retries. Resolves whatever happens: the caller is a job
 * that must not fail because a client went away.
 */
import { signRequest, type AppCredentials } from '../../protocol/apigw-signature.js';
import { sleep, type NotifierClock } from './clock.js';

export interface DeliverOptions {
  url: URL;
  /** The URL's query, first value per name, as the gateway reads it for the signature. */
  query: Record<string, string>;
  creds: AppCredentials;
  fetch: typeof fetch;
  retries: number;
  backoffMs: number;
  timeoutMs: number;
  stage: string | undefined;
  log: (line: string) => void;
  clock: NotifierClock;
}

export type DeliverOutcome = 'sent' | 'gone' | 'failed';

export async function deliver(opts: DeliverOptions, deviceId: string, jobId: string, body: string): Promise<DeliverOutcome> {
  const { query } = opts;
  for (let attempt = 0; ; attempt++) {
    let problem: string;
    try {
      // Signed afresh per attempt: the gateway refuses a nonce it has seen.
      const headers = signRequest(
        {
          method: 'POST',
          path: opts.url.pathname,
          query,
          headers: { 'content-type': 'application/json; charset=utf-8', 'x-ca-deviceid': deviceId },
          body,
        },
        opts.creds,
        { stage: opts.stage },
      );
      const res = await opts.fetch(opts.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(opts.timeoutMs) });
      // Drain the body so the connection can be reused.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'sent';
      const reason = res.headers.get('x-ca-error-message') ?? res.statusText;
      if (res.status === 404) {
        opts.log(`notify: job ${jobId}: device ${deviceId} is not connected (404 ${reason}); message dropped`);
        return 'gone';
      }
      problem = `HTTP ${res.status} ${reason}`;
      if (res.status !== 429 && res.status < 500) {
        opts.log(`notify: job ${jobId}: NOTIFY refused (${problem}); message dropped`);
        return 'failed';
      }
    } catch (error) {
      problem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    if (attempt >= opts.retries) {
      opts.log(`notify: job ${jobId}: giving up after ${attempt + 1} attempts (${problem})`);
      return 'failed';
    }
    await sleep(opts.clock, opts.backoffMs * 2 ** attempt);
  }
}
