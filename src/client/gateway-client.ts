// Kept alive across connections: after `OS`, `CR`, a dropped socket or 3 keep-alive intervals of silence
// it reconnects with backoff under the same device id, re-registers and emits `reconnect`, so callers can
// catch up.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../protocol/errors.js';
import type { GatewaySession as Session } from '../protocol/gateway-session.js';
import { parseBody } from '../protocol/job-messages.js';
import { parseRefsAnswer, type RefsAnswer } from '../protocol/remote-refs.js';
import { openSession } from './_gateway-session.js';
import { GIT_TOKEN_HEADER } from '../protocol/git-token.js';
import { gitTokenFromEnv } from './git-token.js';

import type { ApiRequest, ApiResponse, ConnectingInfo, DisconnectReason, GatewayClientOptions, ReconnectInfo } from './gateway-types.js';

export type { ApiRequest, ApiResponse, ConnectingInfo, DisconnectReason, GatewayClientOptions, ReconnectInfo } from './gateway-types.js';

/**
 * Attempts of the first connect once the first one is refused: nothing listens at the address (a wrong
 * --gateway, a service not started), which waiting seconds more will not change; the second attempt
 * covers a gateway that is just starting.
 */
const REFUSED_ATTEMPTS = 2;
export { ConnectionLostError } from '../protocol/gateway-session.js';

interface ClientEvents {
  /** An attempt to open a connection starts (so a caller can say what it waits for). */
  connecting: [info: ConnectingInfo];
  /** An `NF#` body (already acked). */
  message: [text: string];
  disconnect: [reason: DisconnectReason];
  reconnect: [info: ReconnectInfo];
  /** Reconnecting gave up (or was refused): the session is over. */
  failed: [error: FerryError];
}

export class GatewayClient {
  readonly deviceId: string;
  /** A private repository's token (`FERRY_GIT_TOKEN`), or undefined. */
  readonly gitToken: string | undefined;
  readonly #opts: GatewayClientOptions;
  readonly #host: string;
  readonly #listeners: { [K in keyof ClientEvents]: Set<(...args: ClientEvents[K]) => void> } = {
    connecting: new Set(),
    message: new Set(),
    disconnect: new Set(),
    reconnect: new Set(),
    failed: new Set(),
  };
  #session: Session | undefined;
  /** The connection being opened, until it is registered or fails. */
  #opening: Session | undefined;
  #waiters: { resolve(session: Session): void; reject(error: Error): void }[] = [];
  #failure: FerryError | undefined;
  #closed = false;
  readonly #stop = new AbortController();
  #reconnecting = false;

  constructor(options: GatewayClientOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new FerryError('BAD_REQUEST', `Expected a ws:// or wss:// gateway URL, got ${options.url}.`);
    }
    this.#opts = options;
    this.#host = url.host;
    this.deviceId = options.deviceId ?? `${randomUUID()}@${options.credentials?.appKey ?? 'ferry'}`;
    this.gitToken = options.gitToken ?? gitTokenFromEnv();
  }

  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /**
   * Opens the first connection (retrying like a reconnect, but only once more when refused); rejects with
   * GATEWAY_UNREACHABLE or GATEWAY_REFUSED.
   */
  async connect(): Promise<void> {
    await this.#connectWithBackoff();
  }

  /**
   * One API call. `pipelined`: while a connection is opening, send it right behind REGISTER instead of
   * after REGISTER's answer, saving a round trip (a refused REGISTER fails the call as well).
   */
  async request(req: ApiRequest, options: { pipelined?: boolean } = {}): Promise<ApiResponse> {
    const opening = this.#opening;
    if (options.pipelined && !this.#session && opening) {
      const sent = await opening.registering.then(() => true, () => false);
      if (sent) return opening.request(req);
    }
    const session = await this.#whenReady();
    return session.request(req);
  }

  /** `GET /refs?url=`: the repository's branches, tags and HEAD as the worker sees them (cached ~5 s there). */
  async refs(url: string): Promise<RefsAnswer> {
    const res = await this.request({ method: 'GET', path: '/refs', query: { url }, ...(this.gitToken && { headers: { [GIT_TOKEN_HEADER]: this.gitToken } }) });
    return parseRefsAnswer(parseBody(res, 'GET /refs'));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#fail(new FerryError('GATEWAY_UNREACHABLE', 'The gateway client was closed.'), false);
    const session = this.#session;
    this.#session = undefined;
    session?.end();
  }

  #emit<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    for (const listener of [...this.#listeners[event]]) {
      try {
        listener(...args);
      } catch {
        // A listener's bug must not break the session.
      }
    }
  }

  #whenReady(): Promise<Session> {
    if (this.#failure) return Promise.reject(this.#failure);
    // A session is stored only once it is registered.
    if (this.#session) return Promise.resolve(this.#session);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #fail(error: FerryError, emit = true): void {
    this.#failure ??= error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#failure);
    if (emit) this.#emit('failed', this.#failure);
  }

  async #connectWithBackoff(reason?: DisconnectReason): Promise<void> {
    const { initialMs = 250, maxMs = 5000, attempts = 8 } = this.#opts.backoff ?? {};
    const closed = (): FerryError => this.#failure ?? new FerryError('GATEWAY_UNREACHABLE', 'The gateway client was closed.');
    let lastError: unknown;
    let limit = attempts;
    let attempt = 0;
    while (attempt < limit) {
      attempt++;
      if (this.#closed) throw closed();
      if (attempt > 1 || reason) {
        await sleep(Math.min(maxMs, initialMs * 2 ** (attempt - 1)), undefined, { signal: this.#stop.signal }).catch(() => undefined);
        if (this.#closed) throw closed();
      }
      this.#emit('connecting', { attempt, reconnect: reason !== undefined });
      try {
        const session = await openSession({
          options: this.#opts,
          host: this.#host,
          deviceId: this.deviceId,
          onPush: (text) => this.#emit('message', text),
          onClose: (closedSession) => this.#onClose(closedSession),
          onOpening: (opening) => (this.#opening = opening),
        });
        this.#opening = undefined;
        if (this.#closed) {
          // close() came while this connection was being opened: it must not outlive the client.
          session.end();
          throw closed();
        }
        this.#session = session;
        for (const waiter of this.#waiters.splice(0)) waiter.resolve(session);
        if (reason) this.#emit('reconnect', { reason, attempt });
        return;
      } catch (error) {
        this.#opening = undefined;
        if (this.#closed) throw closed();
        lastError = error;
        if (error instanceof FerryError && error.code === 'GATEWAY_REFUSED') break;
        // Reconnects after a drop keep the whole backoff: the gateway was there a moment ago.
        if (!reason && attempt === 1 && errorCode(error) === 'ECONNREFUSED') limit = Math.min(limit, REFUSED_ATTEMPTS);
      }
    }
    const tries = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
    const failure =
      lastError instanceof FerryError && lastError.code === 'GATEWAY_REFUSED'
        ? lastError
        : new FerryError('GATEWAY_UNREACHABLE', `Cannot reach the gateway at ${this.#opts.url} after ${tries}: ${describe(lastError)}. Check --gateway and that the service is up.`, { cause: lastError });
    this.#fail(failure);
    throw failure;
  }

  #onClose(session: Session): void {
    if (this.#session !== session) return;
    this.#session = undefined;
    const reason = session.reason ?? 'closed';
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    this.#emit('disconnect', reason);
    this.#connectWithBackoff(reason)
      .catch(() => undefined) // reported through `failed`
      .finally(() => (this.#reconnecting = false));
  }
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

/** What went wrong, in words: a socket error's code says more than its message (empty for an AggregateError). */
function describe(error: unknown): string {
  switch (errorCode(error)) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens at that address and port)';
    case 'ENOTFOUND':
      return 'the host name could not be resolved';
    case 'EAI_AGAIN':
      return 'the host name could not be resolved (DNS did not answer)';
    case 'ETIMEDOUT':
      return 'the connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to the host';
  }
  if (error instanceof Error && error.message) return error.message;
  return String(error);
}

