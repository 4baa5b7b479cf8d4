// The HTTP side of a download: one GET with redirects followed, over keep-alive agents owned by one
// download. node:http rather than fetch: in a fresh process fetch's first request costs ~100 ms more
// (undici and web streams load).
import { Agent as HttpAgent, get as httpGet, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, get as httpsGet } from 'node:https';
import { FerryError } from '../protocol/errors.js';

/** A failure that retrying in this run cannot fix (404, a body longer than announced, a disk error). */
export class FinalError extends FerryError {
  /** Worth keeping the `.part` for the next run all the same (a 403: the signed URL expired, the next run signs a new one). */
  readonly resumable: boolean;

  constructor(code: 'DOWNLOAD_FAILED', message: string, options?: { cause?: unknown; resumable?: boolean }) {
    super(code, message, options);
    this.resumable = options?.resumable ?? false;
  }
}

/** The object behind the URL is not the one the download began with (412 to If-Match, another ETag or size): start over. */
export class ObjectChanged extends Error {}

const MAX_REDIRECTS = 5;

/** Sockets kept open between the ranges of one download; `close()` when it ends so nothing holds the process. */
export class Connections {
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;

  constructor(max: number) {
    this.#http = new HttpAgent({ keepAlive: true, maxSockets: max });
    this.#https = new HttpsAgent({ keepAlive: true, maxSockets: max });
  }

  /** A GET with redirects followed; a socket silent for `idleTimeoutMs` is destroyed as "stalled". */
  async get(target: string, headers: Record<string, string>, idleTimeoutMs: number, signal: AbortSignal | undefined): Promise<IncomingMessage> {
    let url = new URL(target);
    for (let hops = 0; ; hops++) {
      const https = url.protocol === 'https:';
      const get = https ? httpsGet : httpGet;
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        let response: IncomingMessage | undefined;
        const req = get(url, { headers, signal, timeout: idleTimeoutMs, agent: https ? this.#https : this.#http }, (res) => resolve((response = res)));
        req.on('error', reject);
        req.on('timeout', () => (response ?? req).destroy(new Error('stalled')));
      });
      const location = res.headers.location;
      if (!location || ![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || hops === MAX_REDIRECTS) return res;
      res.resume();
      url = new URL(location, url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new FinalError('DOWNLOAD_FAILED', `The download redirected to a ${url.protocol} address, which ferry does not follow.`);
      }
    }
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** An answer that carries no body for us: final for most 3xx/4xx, retryable for 408, 429 and 5xx. */
export function statusError(res: IncomingMessage): Error {
  res.resume();
  const status = res.statusCode ?? 0;
  const message = `The download answered ${status} ${res.statusMessage ?? ''}${status === 403 ? ' (the signed URL may have expired: run the command again)' : ''}.`;
  if (status >= 300 && status < 500 && status !== 408 && status !== 429) return new FinalError('DOWNLOAD_FAILED', message, { resumable: status === 403 });
  return new Error(message);
}

/** `bytes <first>-<last>/<total>`; total undefined for `*`. */
export function contentRange(res: IncomingMessage): { first: number; last: number; total: number | undefined } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers['content-range'] ?? '');
  if (!match) return undefined;
  return { first: Number(match[1]), last: Number(match[2]), total: match[3] === '*' ? undefined : Number(match[3]) };
}

export function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

export function stoppedError(cause: unknown): FerryError {
  return new FerryError('TIMEOUT', 'The download was stopped before it finished.', { cause });
}
