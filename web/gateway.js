// @ts-check
/**
 * The API Gateway websocket protocol ("bidirectional communication") from the browser, the same one
 * the CLI speaks: RG#<deviceId> → RO#<credential>#<keepAliveMs>, a REGISTER API frame, H1/HO heartbeats,
 * NF#<message> pushes acked with NO, JSON API frames answered with `x-ca-seq` echoed, and a reconnect
 * after OS (flow control), CR (lifetime reached), a refused RG, a missed heartbeat or a dropped socket.
 * See docs/protocol.md.
 */

/** @typedef {'connecting' | 'online' | 'reconnecting'} LinkState */

/**
 * @typedef {object} ApiResponse
 * @property {number} status
 * @property {Record<string, string>} headers lower-case names
 * @property {string} body
 */

/**
 * @typedef {object} GatewayClientOptions
 * @property {string} url ws:// or wss:// address of the gateway
 * @property {string} deviceId sent in RG#; kept across reconnects so pushes for running jobs keep coming
 * @property {() => string} newDeviceId used when the gateway refuses the id for good
 * @property {(message: string) => void} onPush the body of each NF# frame
 * @property {(state: LinkState) => void} onState
 * @property {(deviceId: string) => void} [onDeviceId] the id changed after a refusal
 */

const REQUEST_TIMEOUT_MS = 60_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** A refused `RG` for an id still held by this browser's previous page (a reload) is retried this often. */
const IN_USE_RETRIES = 3;

export class GatewayClient {
  /** @type {WebSocket | undefined} */
  #ws;
  /** @type {LinkState} */
  #state = 'connecting';
  #deviceId;
  #seq = 0;
  #attempt = 0;
  #inUseRefusals = 0;
  #keepAliveMs = 25_000;
  #lastFrameAt = 0;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #heartbeat;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  #reconnectTimer;
  #stopped = false;
  /** A reconnect is scheduled and not started yet. */
  #waiting = false;
  /** @type {Map<string, { resolve: (res: ApiResponse) => void, reject: (err: Error) => void, timer: ReturnType<typeof setTimeout> }>} */
  #pending = new Map();
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
    this.#teardown('stopped');
  }

  /**
   * One API call as a JSON frame. Only while online (registered); callers fall back to plain HTTP.
   * @param {string} method
   * @param {string} path
   * @param {{ body?: string, type?: 'REGISTER' | 'UNREGISTER', timeoutMs?: number }} [options]
   * @returns {Promise<ApiResponse>}
   */
  request(method, path, options = {}) {
    if (this.#state !== 'online' && options.type !== 'REGISTER') return Promise.reject(new Error('gateway offline'));
    return this.#send(method, path, options);
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {{ body?: string, type?: 'REGISTER' | 'UNREGISTER', timeoutMs?: number }} options
   * @returns {Promise<ApiResponse>}
   */
  #send(method, path, options) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error('gateway offline'));
    const seq = String(++this.#seq);
    /** @type {Record<string, string[]>} */
    const headers = { 'x-ca-seq': [seq], accept: ['application/json'] };
    if (options.body !== undefined) headers['content-type'] = ['application/json; charset=utf-8'];
    if (options.type) headers['x-ca-websocket_api_type'] = [options.type];
    const frame = { method, host: new URL(this.#options.url).host, path, querys: {}, headers, isBase64: 0, body: options.body ?? '' };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error('gateway timeout'));
      }, options.timeoutMs ?? REQUEST_TIMEOUT_MS);
      this.#pending.set(seq, { resolve, reject, timer });
      ws.send(JSON.stringify(frame));
    });
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
    this.#ws = ws;
    ws.onopen = () => {
      this.#lastFrameAt = Date.now();
      ws.send(`RG#${this.#deviceId}`);
    };
    ws.onmessage = (event) => {
      if (typeof event.data === 'string') this.#onFrame(ws, event.data);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#teardown('connection closed');
      this.#scheduleReconnect();
    };
    // An error is always followed by close; nothing to do here.
    ws.onerror = () => undefined;
  }

  /**
   * @param {WebSocket} ws
   * @param {string} text
   */
  #onFrame(ws, text) {
    this.#lastFrameAt = Date.now();
    if (text.startsWith('NF#')) {
      ws.send('NO');
      this.#options.onPush(text.slice(3));
      return;
    }
    if (text.startsWith('HO#')) return;
    if (text.startsWith('RO#')) {
      const keepAlive = Number(text.split('#')[2]);
      if (Number.isFinite(keepAlive) && keepAlive > 0) this.#keepAliveMs = keepAlive;
      this.#startHeartbeat(ws);
      this.#register();
      return;
    }
    if (text.startsWith('RF#')) {
      this.#refused(text.slice(3));
      return;
    }
    if (text === 'OS' || text === 'CR') {
      // The gateway closes right after; reconnect at once (OS: after a short pause).
      this.#teardown(text);
      if (text === 'CR') this.#attempt = 0;
      this.#scheduleReconnect(text === 'CR' ? 0 : undefined);
      return;
    }
    if (text.startsWith('{')) this.#onResponse(text);
  }

  /** @param {string} text */
  #onResponse(text) {
    /** @type {{ status?: unknown, header?: unknown, body?: unknown, isBase64?: unknown }} */
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      return;
    }
    /** @type {Record<string, string>} */
    const headers = {};
    if (json.header && typeof json.header === 'object') {
      for (const [name, value] of Object.entries(json.header)) headers[name.toLowerCase()] = String(value);
    }
    const seq = headers['x-ca-seq'];
    const waiter = seq === undefined ? undefined : this.#pending.get(seq);
    if (!waiter || seq === undefined) return;
    this.#pending.delete(seq);
    clearTimeout(waiter.timer);
    let body = typeof json.body === 'string' ? json.body : '';
    if (json.isBase64 === 1 || json.isBase64 === true) body = decodeBase64(body);
    waiter.resolve({ status: typeof json.status === 'number' ? json.status : 0, headers, body });
  }

  async #register() {
    const ws = this.#ws;
    try {
      const res = await this.#send('POST', '/register', { type: 'REGISTER', body: '', timeoutMs: 15_000 });
      if (res.status >= 200 && res.status < 300) {
        this.#attempt = 0;
        this.#inUseRefusals = 0;
        this.#setState('online');
        return;
      }
    } catch {
      // The socket was torn down meanwhile (onclose, OS/CR, RF#): that path has scheduled the reconnect.
      if (this.#ws !== ws) return;
    }
    this.#teardown('register failed');
    this.#scheduleReconnect();
  }

  /** @param {string} reason */
  #refused(reason) {
    // The previous page of a reload may still hold the id for a moment: retry it a few times, so
    // pushes for the jobs it started keep coming here. Otherwise take a new id.
    if (/in use/i.test(reason) && this.#inUseRefusals++ < IN_USE_RETRIES) {
      this.#teardown('device id in use');
      this.#scheduleReconnect(400 * this.#inUseRefusals);
      return;
    }
    this.#inUseRefusals = 0;
    this.#deviceId = this.#options.newDeviceId();
    this.#options.onDeviceId?.(this.#deviceId);
    this.#teardown('refused');
    this.#scheduleReconnect(0);
  }

  /** @param {WebSocket} ws */
  #startHeartbeat(ws) {
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => {
      // Three silent intervals: the socket is dead even if the browser has not noticed yet.
      if (Date.now() - this.#lastFrameAt > 3 * this.#keepAliveMs) {
        this.#teardown('heartbeat lost');
        this.#scheduleReconnect(0);
        return;
      }
      if (ws.readyState === WebSocket.OPEN) ws.send('H1');
    }, this.#keepAliveMs);
  }

  /** @param {string} why */
  #teardown(why) {
    clearInterval(this.#heartbeat);
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, why);
    }
    for (const [seq, waiter] of this.#pending) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(why));
      this.#pending.delete(seq);
    }
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

  /** Back online or visible again: skip what is left of the backoff. */
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

/** @param {string} base64 */
function decodeBase64(base64) {
  try {
    const binary = atob(base64);
    return new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return '';
  }
}
