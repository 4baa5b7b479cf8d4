// A long, thin network path in userspace (the kernel here has no netem): a TCP proxy between a client
// and a server that delays every byte by half the round trip in each direction, holds a new
// connection's first bytes for the TCP handshake's round trip, and caps each connection's rate and the
// link's total rate. For the benchmarks (docs/benchmarks.md); the bytes themselves pass unchanged.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface LinkTarget {
  host: string;
  port: number;
}

/** The shape of a path: what the proxy adds between client and server. */
export interface LinkProfile {
  rttMs: number;
  /** What one TCP connection gets over the path (loss and the long round trip cap it, not the link). */
  perConnectionBytesPerSec: number;
  /** The link's capacity in each direction, shared by every connection; unlimited when undefined. */
  totalBytesPerSec?: number | undefined;
}

export interface LinkProxyOptions extends LinkProfile {
  /** Where connections go. A function is asked at each connection: a target whose port is known only later. */
  target: LinkTarget | (() => LinkTarget);
  /** Listening address; default 127.0.0.1 (the port is always picked by the kernel). */
  host?: string;
  /** Bytes one direction of one connection may hold (waiting for its rate, on the wire, unwritten) before its sender is paused. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Told of each accepted connection (the bench times when a client starts downloading). */
  onConnection?: () => void;
}

export interface LinkStats {
  /** Connections accepted since the start. */
  connections: number;
  /** Connections still open. */
  open: number;
  /** Bytes delivered, both directions. */
  bytes: number;
  /** Client → server. */
  bytesUp: number;
  /** Server → client. */
  bytesDown: number;
}

export interface LinkProxy {
  host: string;
  port: number;
  /** Live counters. */
  readonly stats: LinkStats;
  /** Stops listening and ends every connection at once. */
  close(): Promise<void>;
}

const KB = 1000;
const MB = 1000 * KB;

/** To GitHub from mainland China: a long path on which one connection gets a few hundred KB/s. */
export const GITHUB_FROM_CHINA: LinkProfile = { rttMs: 250, perConnectionBytesPerSec: 300 * KB, totalBytesPerSec: 2 * MB };
/** To OSS in Hong Kong from mainland China: short, and a link that several connections can fill. */
export const OSS_HONG_KONG: LinkProfile = { rttMs: 40, perConnectionBytesPerSec: 2 * MB, totalBytesPerSec: 20 * MB };

// Rate is paced in slices this large, so connections sharing the link interleave finely.
const SLICE = 16 * 1024;
// A slice due sooner than this is sent without a timer: setTimeout cannot wait less than ~1 ms anyway.
const TIMER_FLOOR_MS = 1;

/** A serial transmitter: bytes reserved on it leave one after another at its rate. */
class Pacer {
  #nextFree = 0;
  constructor(private readonly bytesPerSec: number) {}

  /** Reserves `bytes` starting no earlier than `from`; returns when they have left. */
  reserve(from: number, bytes: number): number {
    const start = Math.max(from, this.#nextFree);
    this.#nextFree = start + (bytes * 1000) / this.bytesPerSec;
    return this.#nextFree;
  }
}

const END = Symbol('end');
type Packet = Buffer | typeof END;

/** One direction of one connection: paced, then delayed, then written; its sender paused when it holds too much. */
class Direction {
  readonly #waiting: Buffer[] = [];
  #waitingBytes = 0;
  #ended = false;
  #pumping = false;
  /** Packets on the wire, each with its arrival time, in order. */
  readonly #wire: { due: number; packet: Packet }[] = [];
  #wireBytes = 0;
  #wireTimer: NodeJS.Timeout | undefined;
  #pumpTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #connection: Pacer;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly link: Pacer | undefined,
    perConnectionBytesPerSec: number,
    private readonly oneWayMs: number,
    /** Nothing leaves before this (the handshake). */
    openAt: number,
    private readonly maxBufferedBytes: number,
    private readonly count: (bytes: number) => void,
  ) {
    this.#connection = new Pacer(perConnectionBytesPerSec);
    this.#connection.reserve(openAt, 0);
    from.on('data', (chunk: Buffer) => {
      this.#waiting.push(chunk);
      this.#waitingBytes += chunk.length;
      this.#checkPressure();
      this.#pump();
    });
    from.on('end', () => {
      this.#ended = true;
      this.#pump();
    });
    to.on('drain', () => this.#checkPressure());
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#wireTimer);
    clearTimeout(this.#pumpTimer);
    this.#waiting.length = 0;
    this.#wire.length = 0;
  }

  #buffered(): number {
    return this.#waitingBytes + this.#wireBytes + this.to.writableLength;
  }

  #checkPressure(): void {
    if (this.#stopped) return;
    if (this.#buffered() > this.maxBufferedBytes) this.from.pause();
    else if (this.from.isPaused()) this.from.resume();
  }

  /** Takes waiting bytes a slice at a time, each when both its connection and the link have room for it. */
  #pump(): void {
    if (this.#pumping || this.#stopped) return;
    this.#pumping = true;
    const step = (): void => {
      this.#pumpTimer = undefined;
      for (;;) {
        if (this.#stopped) return;
        const head = this.#waiting[0];
        if (!head) {
          if (this.#ended) {
            this.#ended = false;
            this.#send(END, this.#connection.reserve(performance.now(), 0));
          }
          this.#pumping = false;
          return;
        }
        const slice = head.length <= SLICE ? head : head.subarray(0, SLICE);
        if (slice === head) this.#waiting.shift();
        else this.#waiting[0] = head.subarray(SLICE);
        this.#waitingBytes -= slice.length;
        const now = performance.now();
        // The slice leaves when the connection's own pace allows it and the shared link has carried it.
        const onLink = this.link?.reserve(this.#connection.reserve(now, 0), slice.length) ?? 0;
        const left = Math.max(this.#connection.reserve(now, slice.length), onLink);
        this.#connection.reserve(left, 0);
        this.#send(slice, left);
        if (left - now >= TIMER_FLOOR_MS) {
          // The next slice is reserved only once this one has left: no connection books the link far ahead.
          this.#pumpTimer = setTimeout(step, left - now);
          return;
        }
      }
    };
    step();
  }

  #send(packet: Packet, leftAt: number): void {
    this.#wire.push({ due: leftAt + this.oneWayMs, packet });
    if (packet !== END) this.#wireBytes += packet.length;
    if (this.#wire.length === 1) this.#arm();
  }

  #arm(): void {
    const head = this.#wire[0];
    if (!head || this.#stopped) return;
    this.#wireTimer = setTimeout(() => this.#deliver(), Math.max(0, head.due - performance.now()));
  }

  #deliver(): void {
    this.#wireTimer = undefined;
    const now = performance.now();
    while (!this.#stopped && this.#wire[0] && this.#wire[0].due <= now + 0.5) {
      const { packet } = this.#wire.shift() as { due: number; packet: Packet };
      if (packet === END) {
        this.to.end();
        continue;
      }
      this.#wireBytes -= packet.length;
      this.count(packet.length);
      // A destination already gone just drops what was still on the wire, as the network would.
      if (!this.to.destroyed) this.to.write(packet);
    }
    this.#checkPressure();
    this.#arm();
  }
}

/** Starts the proxy on a port of its own; resolves once it listens. */
export async function startLinkProxy(options: LinkProxyOptions): Promise<LinkProxy> {
  checkOptions(options);
  const stats: LinkStats = { connections: 0, open: 0, bytes: 0, bytesUp: 0, bytesDown: 0 };
  const oneWayMs = options.rttMs / 2;
  const maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
  // The link's capacity is per direction, as on a full-duplex line.
  const linkUp = options.totalBytesPerSec ? new Pacer(options.totalBytesPerSec) : undefined;
  const linkDown = options.totalBytesPerSec ? new Pacer(options.totalBytesPerSec) : undefined;
  const live = new Set<() => void>();

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false }, (client) => {
    stats.connections++;
    stats.open++;
    options.onConnection?.();
    const target = typeof options.target === 'function' ? options.target() : options.target;
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true });
    const accepted = performance.now();
    // The client's connect() returned at once; its first byte may leave only after the SYN / SYN-ACK round trip.
    const up = new Direction(client, upstream, linkUp, options.perConnectionBytesPerSec, oneWayMs, accepted + options.rttMs, maxBufferedBytes, (n) => {
      stats.bytes += n;
      stats.bytesUp += n;
    });
    const down = new Direction(upstream, client, linkDown, options.perConnectionBytesPerSec, oneWayMs, accepted + oneWayMs, maxBufferedBytes, (n) => {
      stats.bytes += n;
      stats.bytesDown += n;
    });
    let closed = 0;
    const kill = (): void => {
      up.stop();
      down.stop();
      client.destroy();
      upstream.destroy();
    };
    live.add(kill);
    const onClose = (): void => {
      if (++closed < 2) return;
      stats.open--;
      live.delete(kill);
    };
    // A reset on either side resets the other: nothing more can be carried for this connection.
    client.on('error', kill).on('close', onClose);
    upstream.on('error', kill).on('close', onClose);
    // Both directions ended cleanly (each side's end delivered): the sockets close themselves.
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const kill of [...live]) kill();
      }),
  };
}

function checkOptions(options: LinkProxyOptions): void {
  const positive = (name: string, value: unknown, allowZero = false): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
      throw new TypeError(`Expected \`${name}\` to be a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(value)}`);
    }
  };
  positive('rttMs', options.rttMs, true);
  positive('perConnectionBytesPerSec', options.perConnectionBytesPerSec);
  if (options.totalBytesPerSec !== undefined) positive('totalBytesPerSec', options.totalBytesPerSec);
  if (options.maxBufferedBytes !== undefined) positive('maxBufferedBytes', options.maxBufferedBytes);
}
