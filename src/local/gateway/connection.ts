// Heartbeats: H1 → HO, 3 missed → closed. A bad frame gets an error answer; nothing a client sends can
// throw out of here.
import { randomBytes } from 'node:crypto';
import type { DeviceRegistry } from './devices.js';
import { parseClientFrame, responseFrame } from './frames.js';
import { errorResponse, type Core } from './core.js';
import type { ConnectionLike } from './types.js';

/** The few `ws` methods used here, so tests and other servers can stand in. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  on(event: 'message', listener: (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => void): void;
  on(event: 'close', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

export interface ConnectionOptions {
  socket: SocketLike;
  clientIp: string;
  core: Core;
  devices: DeviceRegistry;
  keepAliveMs: number;
  maxLifetimeMs: number | undefined;
  maxMessagesPerSecond: number;
  onClose(): void;
}

const OPEN = 1;

export class Connection implements ConnectionLike {
  deviceId: string | undefined;
  registered = false;
  /** Returned in RO and HO; the real gateway uses it to resume sessions, here it is informational. */
  readonly credential = randomBytes(12).toString('base64url');

  private readonly heartbeat: NodeJS.Timeout;
  private readonly lifetime: NodeJS.Timeout | undefined;
  private windowStart = Date.now();
  private windowCount = 0;
  private closed = false;
  private cleanedUp = false;

  constructor(private readonly opts: ConnectionOptions) {
    const { socket } = opts;
    // Counted from the connection's start, then from each H1.
    this.heartbeat = setTimeout(() => this.end(1001, 'heartbeat missed'), 3 * opts.keepAliveMs);
    if (opts.maxLifetimeMs !== undefined) {
      this.lifetime = setTimeout(() => this.end(1000, 'connection lifetime reached', 'CR'), opts.maxLifetimeMs);
    }
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('error', () => this.end(1011, 'socket error'));
    socket.on('close', () => this.cleanup());
  }

  notify(body: string): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.closed || this.opts.socket.readyState !== OPEN) return resolve(false);
      this.opts.socket.send(`NF#${body}`, (err) => resolve(!err));
    });
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.closed) return;
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    if (++this.windowCount > this.opts.maxMessagesPerSecond) return this.end(1008, 'message rate exceeded', 'OS');
    if (isBinary) return this.send(responseFrame(errorResponse(400, 'Unsupported frame: send text frames'), undefined));

    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    const frame = parseClientFrame(text);
    switch (frame.kind) {
      case 'heartbeat':
        this.heartbeat.refresh();
        return this.send(`HO#${this.credential}`);
      case 'ack':
        // NO acknowledges an NF; the emulator does not redeliver, so there is nothing to track.
        return;
      case 'register':
        return this.register(frame.deviceId);
      case 'bad-register':
        return this.send(`RF#${frame.reason}`);
      case 'bad-request':
        return this.send(responseFrame(errorResponse(400, frame.reason), frame.seq));
      case 'request': {
        const seq = frame.request.headers['x-ca-seq'];
        this.opts
          .core({ ...frame.request, clientIp: this.opts.clientIp, connection: this })
          .catch(() => errorResponse(500, 'Internal Error'))
          .then((res) => this.send(responseFrame(res, seq)));
        return;
      }
    }
  }

  private register(deviceId: string): void {
    if (this.deviceId !== undefined && this.deviceId !== deviceId) {
      return this.send(`RF#Connection already registered as another device`);
    }
    if (!this.opts.devices.claim(deviceId, this)) return this.send('RF#Device Id In Use');
    this.deviceId = deviceId;
    this.send(`RO#${this.credential}#${this.opts.keepAliveMs}`);
  }

  private send(text: string): void {
    if (!this.closed && this.opts.socket.readyState === OPEN) this.opts.socket.send(text);
  }

  private end(code: number, reason: string, word?: 'OS' | 'CR'): void {
    if (this.closed) return;
    if (word) this.send(word);
    this.closed = true;
    try {
      this.opts.socket.close(code, reason);
    } catch {
      // Already closing; cleanup follows from the close event.
    }
    this.cleanup();
  }

  private cleanup(): void {
    this.closed = true;
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    clearTimeout(this.heartbeat);
    if (this.lifetime) clearTimeout(this.lifetime);
    if (this.deviceId !== undefined) this.opts.devices.release(this.deviceId, this);
    this.registered = false;
    this.opts.onClose();
  }
}
