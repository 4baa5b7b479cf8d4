// @ts-check
// The protocol is the CLI's own session (src/protocol/gateway-session.ts). The page's policy: reconnect
// forever with jittered backoff, at once when back online or visible, and a new device id when refused.
import { DeviceRefusedError, GatewaySession } from './protocol/gateway-session.js';

/** @typedef {'connecting' | 'online' | 'reconnecting'} LinkState */
/** @typedef {import('./protocol/gateway-types.js').ApiResponse} ApiResponse */

/**
 * @typedef {object} GatewayClientOptions
 * @property {string} url ws:// or wss:// address of the gateway
 * @property {string} deviceId sent in RG#; kept across reconnects so pushes for running jobs keep coming
 * @property {() => string} newDeviceId used when the gateway refuses the id for good
 * @property {(message: string) => void} onPush the body of each NF# frame
 * @property {(state: LinkState) => void} onState
 * @property {(deviceId: string) => void} [onDeviceId] the id changed after a refusal
 */

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** A refused `RG` for an id still held by this browser's previous page (a reload) is retried this often. */
const IN_USE_RETRIES = 3;
const REGISTER_TIMEOUT_MS = 15_000;

export class GatewayClient {
  /** The current connection's session, registered or not yet. @type {GatewaySession | undefined} */
  #session;
  /** @type {LinkState} */
  #state = 'connecting';
  #deviceId;
  #attempt = 0;
  #inUseRefusals = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #reconnectTimer;
  #stopped = false;
  #waiting = false;
  #options;

  /** @param {GatewayClientOptions} options */
  constructor(options) {
    this.#options = options;
    this.#deviceId = options.deviceId;
  }

  get state() {
    return this.#state;
  }

  get deviceId() {
    return this.#deviceId;
  }

  start() {
    this.#stopped = false;
    this.#connect();
    window.addEventListener('online', this.#reconnectNow);
    document.addEventListener('visibilitychange', this.#onVisible);
  }

  stop() {
    this.#stopped = true;
    window.removeEventListener('online', this.#reconnectNow);
    document.removeEventListener('visibilitychange', this.#onVisible);
    clearTimeout(this.#reconnectTimer);
    const session = this.#session;
    this.#session = undefined;
    session?.end();
  }

  /**
   * One API call as a JSON frame. Only while online (registered); callers fall back to plain HTTP.
   * @param {string} method
   * @param {string} path
   * @param {{ body?: string, timeoutMs?: number }} [options]
   * @returns {Promise<ApiResponse>}
   */
  request(method, path, options = {}) {
    const session = this.#session;
    if (this.#state !== 'online' || !session) return Promise.reject(new Error('gateway offline'));
    const { body, timeoutMs } = options;
    /** @type {Record<string, string>} */
    const headers = body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' };
    return session.request({ method, path, headers, ...(body === undefined ? {} : { body }) }, timeoutMs);
  }

  #connect() {
    if (this.#stopped) return;
    this.#setState(this.#attempt === 0 ? 'connecting' : 'reconnecting');
    const url = this.#options.url;
    /** @type {WebSocket} */
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.#scheduleReconnect();
      return;
    }
    let registered = false;
    /** @type {GatewaySession} */
    const session = new GatewaySession({
      socket: ws,
      host: new URL(url).host,
      deviceId: this.#deviceId,
      onPush: (text) => this.#options.onPush(text),
      openTimeoutMs: REGISTER_TIMEOUT_MS,
      // A registered connection ended; one that never got there is handled where `ready` rejects.
      onClose: (reason) => {
        if (!registered || this.#session !== session) return;
        this.#session = undefined;
        // CR: the connection reached its lifetime, nothing is wrong: reconnect at once.
        if (reason === 'CR') this.#attempt = 0;
        this.#scheduleReconnect(reason === 'CR' ? 0 : undefined);
      },
    });
    this.#session = session;
    ws.onopen = () => session.opened();
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') session.received(event.data);
    };
    ws.onclose = (event) => session.closed(String(event.code));
    // An error is always followed by close.
    ws.onerror = () => undefined;
    session.ready.then(
      () => {
        if (this.#session !== session) return;
        registered = true;
        this.#attempt = 0;
        this.#inUseRefusals = 0;
        this.#setState('online');
      },
      (error) => {
        if (this.#session !== session) return;
        this.#session = undefined;
        if (error instanceof DeviceRefusedError) this.#refused(error);
        else this.#scheduleReconnect();
      },
    );
  }

  /** @param {DeviceRefusedError} error */
  #refused(error) {
    // The previous page of a reload may still hold the id for a moment: retry it a few times, so
    // pushes for the jobs it started keep coming here. Otherwise take a new id.
    if (error.inUse && this.#inUseRefusals++ < IN_USE_RETRIES) {
      this.#scheduleReconnect(400 * this.#inUseRefusals);
      return;
    }
    this.#inUseRefusals = 0;
    this.#deviceId = this.#options.newDeviceId();
    this.#options.onDeviceId?.(this.#deviceId);
    this.#scheduleReconnect(0);
  }

  /** @param {number} [delayMs] */
  #scheduleReconnect(delayMs) {
    if (this.#stopped) return;
    clearTimeout(this.#reconnectTimer);
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#attempt);
    const wait = delayMs ?? backoff * (0.75 + Math.random() * 0.5);
    this.#attempt++;
    this.#setState('reconnecting');
    this.#waiting = true;
    this.#reconnectTimer = setTimeout(() => {
      this.#waiting = false;
      this.#connect();
    }, wait);
  }

  #reconnectNow = () => {
    if (!this.#waiting || this.#stopped) return;
    clearTimeout(this.#reconnectTimer);
    this.#waiting = false;
    this.#connect();
  };

  // A background tab's timers are throttled: on return, do not sit out the rest of a long backoff.
  #onVisible = () => {
    if (document.visibilityState === 'visible') this.#reconnectNow();
  };

  /** @param {LinkState} state */
  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#options.onState(state);
  }
}

/**
 * Letters and digits only, so it passes both the gateway's and the worker's device id rules.
 * `crypto.getRandomValues` works on plain http:// too (randomUUID needs a secure context).
 */
export function randomDeviceId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return `web${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}
