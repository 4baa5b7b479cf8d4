// A TCP proxy that breaks things on purpose: put it between the worker and the git server (or the OSS
// store) and tell it, at any moment, what to do to the next connections or HTTP requests: pass them,
// drop them, stall them after N bytes, cut them at byte N, or answer an HTTP error in the target's stead.
// Faults are chosen deterministically (every n-th, the first k times), never at random, so a test
// that fails fails the same way again.
import { connect, createServer, type AddressInfo } from 'node:net';
import { RequestSplitter, type RequestHead } from './http-request-splitter.js';

export type { RequestHead } from './http-request-splitter.js';

/** `down` is target → client (the response), `up` is client → target (the request). */
export type FaultDirection = 'down' | 'up';

export type Fault =
  /** Carries the bytes unchanged. */
  | { type: 'pass' }
  /** Closes the client's connection as soon as the unit starts: a FIN, or a reset (`reset: true`, like a refused or killed peer). */
  | { type: 'drop'; reset?: boolean }
  /** Carries `afterBytes` bytes (default 0) of `direction` (default down), then carries nothing more while keeping both sockets open. */
  | { type: 'stall'; afterBytes?: number; direction?: FaultDirection }
  /**
   * Carries exactly `atByte` bytes of `direction` (default down), then closes both sockets: FIN by default,
   * reset with `reset: true` (a receiver that has not yet read the bytes before the reset may then see
   * them end cleanly or lose them, as on a real network).
   */
  | { type: 'cut'; atByte: number; direction?: FaultDirection; reset?: boolean }
  /** HTTP targets: answers `status` (with `body`) itself and closes the connection; the target sees nothing of the request. */
  | { type: 'http'; status: number; body?: string };

export interface FaultRule {
  fault: Fault;
  /** Only every n-th unit (n, 2n, 3n… counted from when the rule was set) is eligible. Default: every unit. */
  every?: number;
  /** The fault takes effect at most this many times (a cut or stall counts when it happens); then all passes. Default: no limit. */
  times?: number;
  /** Request mode: only requests this accepts are units of this rule (counted, eligible); the others pass. */
  match?: (head: RequestHead) => boolean;
}

export interface FaultProxyOptions {
  /**
   * Where connections go; a function is asked at each connection, for a proxy that must exist before its
   * target does (a worker's FERRY_NOTIFY_URL, fixed before the gateway it names listens).
   */
  target: { host: string; port: number } | (() => { host: string; port: number });
  /**
   * What a fault applies to: each TCP `connection` (default), or each HTTP/1.1 `request` on a
   * connection (kept-alive clients such as git's curl and ali-oss send many per connection).
   */
  unit?: 'connection' | 'request';
  /** The rule to start with; default pass. */
  rule?: FaultRule;
}

export interface FaultStats {
  /** Connections accepted. */
  connections: number;
  /** Connections still open. */
  open: number;
  /** Request mode: request heads seen. */
  requests: number;
  /** Units (connections or requests) a fault took effect on. */
  faults: number;
  /** Bytes carried client → target. */
  bytesUp: number;
  /** Bytes carried target → client. */
  bytesDown: number;
}

export interface FaultProxy {
  host: string;
  port: number;
  /** `http://host:port`, for HTTP targets. */
  url: string;
  readonly stats: FaultStats;
  /** Replaces the rule for units that start from now on (units under way keep theirs). */
  setRule(rule: FaultRule | Fault): void;
  /** Ends every connection now (a stalled one included), without closing the listener. */
  destroyConnections(): void;
  close(): Promise<void>;
}

interface ActiveRule {
  rule: FaultRule;
  units: number;
  fired: number;
}

/** One unit's fault, decided when it starts, with the bytes it has carried each way. */
interface Unit {
  fault: Fault;
  active: ActiveRule | undefined;
  up: number;
  down: number;
}

const PASS: Unit = { fault: { type: 'pass' }, active: undefined, up: 0, down: 0 };

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const mode = options.unit ?? 'connection';
  const stats: FaultStats = { connections: 0, open: 0, requests: 0, faults: 0, bytesUp: 0, bytesDown: 0 };
  let active = activate(options.rule ?? { fault: { type: 'pass' } });
  const live = new Set<() => void>();

  /** Picks the fault for a unit starting now, under the current rule. */
  const startUnit = (head: RequestHead | undefined): Unit => {
    const rule = active.rule;
    if (head && rule.match && !rule.match(head)) return { ...PASS };
    const n = ++active.units;
    if (rule.every !== undefined && n % rule.every !== 0) return { ...PASS };
    return { fault: rule.fault, active, up: 0, down: 0 };
  };
  /** True when the unit's fault may take effect now (its rule's `times` not spent); counts it. */
  const fire = (unit: Unit): boolean => {
    const rule = unit.active;
    if (!rule || unit.fault.type === 'pass') return false;
    if (rule.rule.times !== undefined && rule.fired >= rule.rule.times) return false;
    rule.fired++;
    stats.faults++;
    return true;
  };

  const server = createServer({ allowHalfOpen: true }, (client) => {
    stats.connections++;
    stats.open++;
    const upstream = connect({ ...(typeof options.target === 'function' ? options.target() : options.target), allowHalfOpen: true });
    let stopped = false;
    let unit: Unit = mode === 'connection' ? startUnit(undefined) : { ...PASS };
    // Requests are framed in request mode, and for a connection to answer in HTTP: after its request's head.
    const splitter = mode === 'request' || unit.fault.type === 'http' ? new RequestSplitter() : undefined;
    // A stalled direction swallows what still arrives instead of carrying it.
    const stalled = { up: false, down: false };

    const kill = (reset = false): void => {
      if (stopped) return;
      stopped = true;
      if (reset) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      } else {
        client.destroy();
        upstream.destroy();
      }
    };
    live.add(kill);
    let closed = 0;
    const onClose = (): void => {
      if (++closed < 2) return;
      stats.open--;
      live.delete(kill);
    };
    client.on('error', () => kill()).on('close', onClose);
    upstream.on('error', () => kill()).on('close', onClose);

    /** Answers an HTTP error in the target's stead, then lets the client go. */
    const answer = (status: number, body = `fault-proxy: ${status}\n`): void => {
      stopped = true;
      upstream.destroy();
      client.on('data', () => undefined);
      client.end(
        `HTTP/1.1 ${status} Fault Injected\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };

    /** Starts a unit's fault that acts at once (drop, http); true when the unit's bytes must not be carried. */
    const begin = (): boolean => {
      const fault = unit.fault;
      if (fault.type === 'drop' && fire(unit)) {
        kill(fault.reset === true);
        return true;
      }
      if (fault.type === 'http' && fire(unit)) {
        answer(fault.status, fault.body);
        return true;
      }
      return false;
    };

    /** Carries `data` one way under the unit's fault: all of it, or up to the fault's byte and then its action. */
    const carry = (direction: FaultDirection, data: Buffer): void => {
      if (stopped || stalled[direction] || data.length === 0) return;
      const fault = unit.fault;
      const faultDirection = fault.type === 'stall' || fault.type === 'cut' ? (fault.direction ?? 'down') : undefined;
      let allowed = data.length;
      if (faultDirection === direction && (fault.type === 'stall' || fault.type === 'cut')) {
        const at = fault.type === 'stall' ? (fault.afterBytes ?? 0) : fault.atByte;
        allowed = Math.max(0, Math.min(data.length, at - unit[direction]));
        if (allowed < data.length && fire(unit)) {
          write(direction, data.subarray(0, allowed));
          if (fault.type === 'stall') stalled[direction] = true;
          else cut(direction, fault.reset === true);
          return;
        }
        // The rule's `times` are spent: this unit passes after all.
        allowed = data.length;
      }
      write(direction, data.subarray(0, allowed));
    };

    const write = (direction: FaultDirection, data: Buffer): void => {
      if (data.length === 0) return;
      unit[direction] += data.length;
      const [from, to] = direction === 'down' ? [upstream, client] : [client, upstream];
      if (direction === 'down') stats.bytesDown += data.length;
      else stats.bytesUp += data.length;
      if (!to.write(data)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    };

    /** Closes both sides once what was carried has left: the receiver of `direction` sees exactly the bytes before the cut. */
    const cut = (direction: FaultDirection, reset: boolean): void => {
      stopped = true;
      const receiver = direction === 'down' ? client : upstream;
      const other = direction === 'down' ? upstream : client;
      other.destroy();
      if (reset) receiver.write(Buffer.alloc(0), () => receiver.resetAndDestroy());
      else receiver.end();
    };

    if (mode === 'connection' && unit.fault.type === 'drop' && begin()) return;

    client.on('data', (chunk: Buffer) => {
      if (!splitter) return carry('up', chunk);
      for (const segment of splitter.push(chunk)) {
        if (stopped) return;
        if (segment.kind === 'head') {
          stats.requests++;
          if (mode === 'request') unit = startUnit(segment.head);
          stalled.up = stalled.down = false;
          if (begin()) return;
        }
        carry('up', segment.data);
      }
    });
    upstream.on('data', (chunk: Buffer) => carry('down', chunk));
    client.on('end', () => {
      if (!stopped && !stalled.up) upstream.end();
    });
    upstream.on('end', () => {
      if (!stopped && !stalled.down) client.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    host: address,
    port,
    url: `http://${address}:${port}`,
    stats,
    setRule(rule) {
      active = activate('fault' in rule ? rule : { fault: rule });
    },
    destroyConnections() {
      for (const kill of [...live]) kill();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const kill of [...live]) kill();
      }),
  };
}

function activate(rule: FaultRule): ActiveRule {
  const check = (name: string, value: number | undefined, min: number): void => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      throw new TypeError(`Expected \`${name}\` to be an integer >= ${min}, got ${JSON.stringify(value)}`);
    }
  };
  check('every', rule.every, 1);
  check('times', rule.times, 0);
  const fault = rule.fault;
  if (fault.type === 'cut') check('atByte', fault.atByte, 0);
  if (fault.type === 'stall') check('afterBytes', fault.afterBytes, 0);
  if (fault.type === 'http') check('status', fault.status, 100);
  return { rule, units: 0, fired: 0 };
}
