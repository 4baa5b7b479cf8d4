// open → `RG#<deviceId>` → `RO#<credential>#<keepAliveMs>` → REGISTER, then `H1` per keep-alive and `NF#`
// acked with `NO`. The transport calls opened(), received() and closed(): over `ws` and the browser alike.
import { FerryError } from './errors.js';
import { decodeAnswer, encodeRequest } from './gateway-frames.js';
import type { ApiRequest, ApiResponse, DisconnectReason, RequestSigner, SocketLike } from './gateway-types.js';

/** A request that was on a connection when it dropped: it may or may not have reached the backend. */
export class ConnectionLostError extends FerryError {
  constructor(reason: string) {
    super('GATEWAY_UNREACHABLE', `The gateway connection dropped before the answer arrived (${reason}).`);
  }
}

// `Device Id In Use` is transient (the previous connection may hold the id a moment longer), so it is
// not GATEWAY_REFUSED; any other `RF#` reason is final for that id.
export class DeviceRefusedError extends FerryError {
  readonly reason: string;
  readonly inUse: boolean;
  constructor(reason: string) {
    const inUse = reason === 'Device Id In Use';
    super(inUse ? 'GATEWAY_UNREACHABLE' : 'GATEWAY_REFUSED', inUse ? reason : `The gateway refused the connection: ${reason}.`);
    this.reason = reason;
    this.inUse = inUse;
  }
}

export interface SessionOptions {
  socket: SocketLike;
  host: string;
  deviceId: string;
  /** Signs every API frame (APP authentication); unsigned without it (ANONYMOUS APIs). */
  sign?: RequestSigner | undefined;
  /** An `NF#` body, already acked with `NO`. */
  onPush(text: string): void;
  /** The connection ended, after its pending calls were rejected. Called once. */
  onClose(reason: DisconnectReason): void;
  /** How long open → registered may take. Default 15 000. */
  openTimeoutMs?: number;
  /** How long an API call waits for its answer. Default 60 000. */
  requestTimeoutMs?: number;
}

interface Pending {
  resolve(res: ApiResponse): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

export class GatewaySession {
  /** Resolves once REGISTER succeeded; rejects if the connection ends or is refused before. */
  readonly ready: Promise<void>;
  /**
   * Resolves once REGISTER is on the wire (after RO#): a call sent from then on follows it on the same
   * socket, so a client may send its first call without waiting a round trip for REGISTER's answer.
   */
  readonly registering: Promise<void>;
  reason: DisconnectReason | undefined;
  readonly #opts: SessionOptions;
  readonly #pending = new Map<string, Pending>();
  #seq = 0;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  /** When the gateway last sent anything (HO# answers every H1): a silent socket is a dead one. */
  #lastFrameAt = Date.now();
  #ended = false;
  #closeReported = false;
  #settle!: (error?: Error) => void;
  #registerSent!: () => void;

  constructor(options: SessionOptions) {
    this.#opts = options;
    let sent = false;
    this.registering = new Promise<void>((resolve) => {
      this.#registerSent = () => {
        sent = true;
        resolve();
      };
    });
    this.ready = new Promise<void>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => this.#settle(new Error('timed out opening the session')), options.openTimeoutMs ?? 15_000);
      this.#settle = (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!error) return resolve();
        this.end();
        reject(error);
      };
    });
    // Ended before REGISTER went out: `registering` fails as `ready` does.
    this.registering = Promise.race([this.registering, this.ready.then(() => undefined, (error: unknown) => (sent ? undefined : Promise.reject(error)))]);
    this.registering.catch(() => undefined);
    // A client that stops waiting must not leave an unhandled rejection behind.
    this.ready.catch(() => undefined);
  }

  opened(): void {
    this.#lastFrameAt = Date.now();
    this.#send(`RG#${this.#opts.deviceId}`);
  }

  received(text: string): void {
    if (this.#ended) return;
    this.#lastFrameAt = Date.now();
    if (text.startsWith('RO#')) {
      this.#startHeartbeat(Number(text.split('#')[2]));
      this.#register().then(
        () => this.#settle(),
        (error: Error) => this.#settle(error),
      );
      // request() sends its frame synchronously: REGISTER is on the socket now.
      this.#registerSent();
    } else if (text.startsWith('RF#')) {
      this.#settle(new DeviceRefusedError(text.slice(3)));
    } else if (text.startsWith('NF#')) {
      this.#send('NO');
      this.#opts.onPush(text.slice(3));
    } else if (text === 'OS' || text === 'CR') {
      this.reason = text;
    } else if (text.startsWith('{')) {
      this.#answer(text);
    }
    // HO#<credential> needs no action.
  }

  closed(detail?: string): void {
    if (this.#closeReported) return;
    this.#ended = true;
    this.#closeReported = true;
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    const reason = this.reason ?? 'closed';
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionLostError(reason));
    }
    this.#pending.clear();
    this.#settle(new Error(`connection closed${detail ? ` (${detail})` : ''}${this.reason ? ` after ${this.reason}` : ''}`));
    this.#opts.onClose(reason);
  }

  failed(error: Error): void {
    this.#settle(error);
    this.closed(error.message);
  }

  request(req: ApiRequest, timeoutMs = this.#opts.requestTimeoutMs ?? 60_000): Promise<ApiResponse> {
    const seq = String(++this.#seq);
    const frame = encodeRequest(req, seq, this.#opts.host, this.#opts.sign);
    return new Promise((resolve, reject) => {
      if (this.#ended || this.#opts.socket.readyState !== OPEN) return reject(new ConnectionLostError('not connected'));
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new FerryError('TIMEOUT', `The gateway did not answer ${req.method} ${req.path} within ${timeoutMs / 1000} s.`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
      this.#opts.socket.send(frame);
    });
  }

  end(): void {
    this.#ended = true;
    if (this.#heartbeat !== undefined) clearInterval(this.#heartbeat);
    const socket = this.#opts.socket;
    try {
      if (socket.readyState === OPEN) socket.close(1000, 'bye');
      else if (socket.terminate) socket.terminate();
      else socket.close();
    } catch {
      // already closing
    }
  }

  #send(text: string): void {
    if (!this.#ended && this.#opts.socket.readyState === OPEN) this.#opts.socket.send(text);
  }

  #startHeartbeat(keepAliveMs: number): void {
    if (!Number.isFinite(keepAliveMs) || keepAliveMs <= 0) return;
    this.#heartbeat = setInterval(() => {
      // A NAT drop or a sleeping laptop closes nothing: three silent intervals mean the socket is dead,
      // dropped at once without waiting for a close handshake that never comes.
      if (Date.now() - this.#lastFrameAt > 3 * keepAliveMs) this.#drop();
      else this.#send('H1');
    }, keepAliveMs);
    // Node only: the heartbeat alone must not keep a CLI process alive.
    (this.#heartbeat as unknown as { unref?: () => void }).unref?.();
  }

  #drop(): void {
    const socket = this.#opts.socket;
    try {
      if (socket.terminate) socket.terminate();
      else socket.close(4000, 'heartbeat lost');
    } catch {
      // already gone
    }
    this.closed('heartbeat lost');
  }

  async #register(): Promise<void> {
    const res = await this.request({
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

  #answer(text: string): void {
    const answer = decodeAnswer(text);
    const seq = answer?.seq;
    const pending = seq === undefined ? undefined : this.#pending.get(seq);
    if (!answer || !pending || seq === undefined) return;
    this.#pending.delete(seq);
    clearTimeout(pending.timer);
    pending.resolve(answer.response);
  }
}
