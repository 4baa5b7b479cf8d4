/**
 * One logical session with API Gateway's websocket (bidirectional communication), kept alive across
 * connections: `RG#<deviceId>` → `RO#<credential>#<keepAliveMs>` → signed REGISTER, then `H1` at the
 * keep-alive interval, `NF#` pushes acked with `NO`, and API calls as signed JSON frames matched to
 * their answers by a per-connection `x-ca-seq`. After `OS`, `CR`, a dropped socket or 3 keep-alive
 * intervals of silence it reconnects with backoff under the same device id, re-registers and emits
 * `reconnect`, so callers can catch up.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../errors.js';
import { signRequest } from '../notify/signature.js';
import { WebSocket } from './_ws.js';

import type {
  ApiRequest,
  ApiResponse,
  ClientSocketLike,
  DisconnectReason,
  GatewayClientOptions,
  ReconnectInfo,
} from './gateway-types.js';

export type { ApiRequest, ApiResponse, DisconnectReason, GatewayClientOptions, ReconnectInfo } from './gateway-types.js';

interface ClientEvents {
  /** An `NF#` body (already acked). */
  message: [text: string];
  /** The connection ended; a reconnect is under way. */
  disconnect: [reason: DisconnectReason];
  /** A new connection is registered again. */
  reconnect: [info: ReconnectInfo];
  /** Reconnecting gave up (or was refused): the session is over. */
  failed: [error: FerryError];
}

/** A request that was on a connection when it dropped: it may or may not have reached the backend. */
export class ConnectionLostError extends FerryError {
  constructor(reason: string) {
    super('GATEWAY_UNREACHABLE', `The gateway connection dropped before the answer arrived (${reason}).`);
  }
}

interface Pending {
  resolve(res: ApiResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

interface Session {
  socket: ClientSocketLike;
  seq: number;
  pending: Map<string, Pending>;
  heartbeat?: NodeJS.Timeout;
  /** When the gateway last sent anything (HO# answers every H1): a silent socket is a dead one. */
  lastFrameAt: number;
  ready: boolean;
  /** OS or CR, when the gateway said why before closing. */
  reason?: DisconnectReason;
}

const OPEN = 1;
const CONNECT_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 60_000;

export class GatewayClient {
  readonly deviceId: string;
  readonly #opts: GatewayClientOptions;
  readonly #host: string;
  readonly #listeners: { [K in keyof ClientEvents]: Set<(...args: ClientEvents[K]) => void> } = {
    message: new Set(),
    disconnect: new Set(),
    reconnect: new Set(),
    failed: new Set(),
  };
  #session: Session | undefined;
  #waiters: { resolve(session: Session): void; reject(error: Error): void }[] = [];
  #failure: FerryError | undefined;
  #closed = false;
  /** Aborted by close(): cuts a reconnect's backoff short. */
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
  }

  on<K extends keyof ClientEvents>(event: K, listener: (...args: ClientEvents[K]) => void): () => void {
    this.#listeners[event].add(listener);
    return () => this.#listeners[event].delete(listener);
  }

  /** Opens the first connection (retrying like a reconnect); rejects with GATEWAY_UNREACHABLE or GATEWAY_REFUSED. */
  async connect(): Promise<void> {
    await this.#connectWithBackoff();
  }

  /** One API call over the websocket; waits for a registered connection first. */
  async request(req: ApiRequest): Promise<ApiResponse> {
    const session = await this.#whenReady();
    return this.#send(session, req);
  }

  /** Ends the session; pending calls reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort();
    this.#fail(new FerryError('GATEWAY_UNREACHABLE', 'The gateway client was closed.'), false);
    const session = this.#session;
    this.#session = undefined;
    if (session) this.#endSession(session);
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
    if (this.#session?.ready) return Promise.resolve(this.#session);
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
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.#closed) throw closed();
      if (attempt > 1 || reason) {
        await sleep(Math.min(maxMs, initialMs * 2 ** (attempt - 1)), undefined, { signal: this.#stop.signal }).catch(() => undefined);
        if (this.#closed) throw closed();
      }
      try {
        const session = await this.#open();
        if (this.#closed) {
          // close() came while this connection was being opened: it must not outlive the client.
          this.#endSession(session);
          throw closed();
        }
        this.#session = session;
        for (const waiter of this.#waiters.splice(0)) waiter.resolve(session);
        if (reason) this.#emit('reconnect', { reason, attempt });
        return;
      } catch (error) {
        if (this.#closed) throw closed();
        lastError = error;
        if (error instanceof FerryError && error.code === 'GATEWAY_REFUSED') break;
      }
    }
    const failure =
      lastError instanceof FerryError && lastError.code === 'GATEWAY_REFUSED'
        ? lastError
        : new FerryError('GATEWAY_UNREACHABLE', `Cannot reach the gateway at ${this.#opts.url}: ${describe(lastError)}. Check --gateway and that the service is up.`, { cause: lastError });
    this.#fail(failure);
    throw failure;
  }

  /** One connection: open → RG → RO → REGISTER. Resolves with a ready session. */
  #open(): Promise<Session> {
    const socket: ClientSocketLike = new WebSocket(this.#opts.url, { handshakeTimeout: 10_000 });
    const session: Session = { socket, seq: 0, pending: new Map(), lastFrameAt: Date.now(), ready: false };

    return new Promise<Session>((resolve, reject) => {
      let settled = false;
      const settle = (error?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!error) return resolve(session);
        this.#endSession(session);
        reject(error);
      };
      const timer = setTimeout(() => settle(new Error('timed out opening the session')), CONNECT_TIMEOUT_MS);

      socket.on('error', (error) => settle(error));
      socket.on('open', () => socket.send(`RG#${this.deviceId}`));
      socket.on('close', (code) => {
        this.#onClose(session);
        settle(new Error(`connection closed (${code})${session.reason ? ` after ${session.reason}` : ''}`));
      });
      socket.on('message', (data) => {
        session.lastFrameAt = Date.now();
        const text = toText(data);
        if (text.startsWith('RO#')) {
          const keepAliveMs = Number(text.split('#')[2]);
          if (Number.isFinite(keepAliveMs) && keepAliveMs > 0) {
            session.heartbeat = setInterval(() => {
              // A NAT drop or a sleeping laptop closes nothing: three silent intervals mean the socket is
              // dead. terminate() fires 'close', which reconnects like any other drop.
              if (Date.now() - session.lastFrameAt > 3 * keepAliveMs) socket.terminate();
              else if (socket.readyState === OPEN) socket.send('H1');
            }, keepAliveMs);
            session.heartbeat.unref();
          }
          this.#register(session).then(
            () => {
              session.ready = true;
              settle();
            },
            (error: Error) => settle(error),
          );
        } else if (text.startsWith('RF#')) {
          const why = text.slice(3);
          // The previous connection may still hold our id for a moment: retry; anything else is final.
          settle(why === 'Device Id In Use' ? new Error(why) : new FerryError('GATEWAY_REFUSED', `The gateway refused the connection: ${why}.`));
        } else {
          this.#onFrame(session, text);
        }
      });
    });
  }

  async #register(session: Session): Promise<void> {
    const res = await this.#send(session, {
      method: 'POST',
      path: '/register',
      headers: { 'x-ca-websocket_api_type': 'REGISTER', 'content-type': 'application/json; charset=utf-8' },
      body: '{}',
    });
    if (res.status >= 200 && res.status < 300) return;
    const message = res.headers['x-ca-error-message'] ?? (res.body.slice(0, 200) || `status ${res.status}`);
    // A bad signature or key will not get better by retrying.
    const final = res.status >= 400 && res.status < 500 && res.status !== 429;
    if (final) throw new FerryError('GATEWAY_REFUSED', `The gateway refused REGISTER (${res.status}): ${message}. Check --app-key and --app-secret.`);
    throw new Error(`REGISTER answered ${res.status}: ${message}`);
  }

  #onFrame(session: Session, text: string): void {
    if (text.startsWith('NF#')) {
      if (session.socket.readyState === OPEN) session.socket.send('NO');
      this.#emit('message', text.slice(3));
    } else if (text === 'OS' || text === 'CR') {
      session.reason = text;
    } else if (text.startsWith('{')) {
      let frame: { status?: unknown; header?: Record<string, unknown>; body?: unknown; isBase64?: unknown };
      try {
        frame = JSON.parse(text) as typeof frame;
      } catch {
        return;
      }
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(frame.header ?? {})) headers[name.toLowerCase()] = String(value);
      const seq = headers['x-ca-seq'];
      const pending = seq === undefined ? undefined : session.pending.get(seq);
      if (!pending || seq === undefined) return;
      session.pending.delete(seq);
      clearTimeout(pending.timer);
      const raw = typeof frame.body === 'string' ? frame.body : '';
      const body = frame.isBase64 === 1 || frame.isBase64 === true ? Buffer.from(raw, 'base64').toString('utf8') : raw;
      pending.resolve({ status: typeof frame.status === 'number' ? frame.status : 0, headers, body });
    }
    // HO#<credential> needs no action.
  }

  #send(session: Session, req: ApiRequest): Promise<ApiResponse> {
    const seq = String(++session.seq);
    const query = req.query ?? {};
    const body = req.body ?? '';
    const unsigned = { ...req.headers, 'x-ca-seq': seq };
    const creds = this.#opts.credentials;
    const headers = creds
      ? signRequest({ method: req.method, path: req.path, query, headers: unsigned, body }, creds)
      : { accept: 'application/json', ...unsigned };
    const frame = JSON.stringify({
      method: req.method,
      host: this.#host,
      path: req.path,
      querys: query,
      headers: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
      isBase64: 0,
      body,
    });
    return new Promise((resolve, reject) => {
      if (session.socket.readyState !== OPEN) return reject(new ConnectionLostError('not connected'));
      const timer = setTimeout(() => {
        session.pending.delete(seq);
        reject(new FerryError('TIMEOUT', `The gateway did not answer ${req.method} ${req.path} within ${REQUEST_TIMEOUT_MS / 1000} s.`));
      }, REQUEST_TIMEOUT_MS);
      session.pending.set(seq, { resolve, reject, timer });
      session.socket.send(frame);
    });
  }

  #onClose(session: Session): void {
    if (session.heartbeat) clearInterval(session.heartbeat);
    const reason = session.reason ?? 'closed';
    for (const pending of session.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionLostError(reason));
    }
    session.pending.clear();
    if (this.#session !== session) return;
    this.#session = undefined;
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = true;
    this.#emit('disconnect', reason);
    this.#connectWithBackoff(reason)
      .catch(() => undefined) // reported through `failed`
      .finally(() => (this.#reconnecting = false));
  }

  #endSession(session: Session): void {
    if (session.heartbeat) clearInterval(session.heartbeat);
    try {
      if (session.socket.readyState === OPEN) session.socket.close(1000, 'bye');
      else session.socket.terminate();
    } catch {
      // already closing
    }
  }
}

function toText(data: Buffer | ArrayBuffer | Buffer[]): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

