import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { readBody } from '../../util/body.js';
import { FerryError } from '../../protocol/errors.js';
import { fcHeaders, runtimeEnv, type FcContext } from './context.js';
import { freePort, RuntimeProcess } from './process.js';
import { sendToRuntime } from './upstream.js';

export interface SupervisorOptions {
  bootstrap: string;
  cwd?: string;
  /** Extra environment, asked for at each spawn (it may only be settled after the supervisor is made). */
  env: () => Record<string, string> | undefined;
  context: FcContext;
  startTimeoutMs: number;
  stopGraceMs: number;
  /** How long `GET /pre-stop` may take before the instance is stopped anyway (FC's PreStop timeout). */
  preStopTimeoutMs: number;
  log: (line: string) => void;
}

/** A started and initialized runtime: what an FC instance is. */
export interface RuntimeInstance {
  id: string;
  port: number;
  process: RuntimeProcess;
}

// The first `ready()` after a crash starts a new instance (and calls `/initialize` on it again), as FC
// does when it replaces an instance.
export class RuntimeSupervisor {
  private current: RuntimeInstance | undefined;
  private starting: Promise<RuntimeInstance> | undefined;
  private spawned: RuntimeProcess | undefined;
  private closed = false;

  constructor(private readonly opts: SupervisorOptions) {}

  /** The live, initialized instance, starting one if needed. Concurrent callers share one start. */
  ready(): Promise<RuntimeInstance> {
    if (this.closed) return Promise.reject(new FerryError('INTERNAL', 'The FC emulator is closed.'));
    if (this.current?.process.alive) return Promise.resolve(this.current);
    this.starting ??= this.start().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  /** After a refused connection: give the instance a moment to be seen as dead before retrying. */
  async settle(instance: RuntimeInstance): Promise<void> {
    await Promise.race([instance.process.exited, delay(1000)]);
  }

  pid(): number | undefined {
    return this.spawned?.alive ? this.spawned.pid : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.starting?.catch(() => undefined);
    if (this.current?.process.alive) await this.preStop(this.current);
    await this.spawned?.stop(this.opts.stopGraceMs);
  }

  // Its outcome does not matter: the instance is stopped either way, as on FC.
  private async preStop(instance: RuntimeInstance): Promise<void> {
    const signal = AbortSignal.timeout(this.opts.preStopTimeoutMs);
    try {
      const res = await sendToRuntime(instance.port, {
        method: 'GET',
        path: '/pre-stop',
        headers: fcHeaders(this.opts.context, randomUUID()),
        timeoutMs: this.opts.preStopTimeoutMs,
        signal,
      });
      await readBody(res);
      if (res.statusCode !== 200) this.opts.log(`[fc-emulator] runtime ${instance.process.pid} answered GET /pre-stop with ${res.statusCode}`);
    } catch (err) {
      this.opts.log(`[fc-emulator] runtime ${instance.process.pid} GET /pre-stop: ${(err as Error).message}; stopping it anyway`);
    }
  }

  private async start(): Promise<RuntimeInstance> {
    const { opts } = this;
    const port = await freePort();
    const id = `c-${randomUUID()}`;
    const proc = new RuntimeProcess({
      command: opts.bootstrap,
      cwd: opts.cwd,
      env: runtimeEnv(opts.context, port, id, opts.env()),
      onLine: opts.log,
    });
    this.spawned = proc;
    void proc.exited.then((info) => {
      // An exit nobody asked for is worth a line: the next invocation will start a new instance.
      if (!this.closed && this.current?.process === proc) {
        opts.log(`[fc-emulator] runtime ${proc.pid} ${info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`}; next invocation starts a new instance`);
      }
    });
    try {
      await proc.waitForPort(port, opts.startTimeoutMs);
      const instance = { id, port, process: proc };
      await this.initialize(instance);
      if (this.closed) throw new FerryError('INTERNAL', 'The FC emulator was closed while the runtime started.');
      this.current = instance;
      return instance;
    } catch (err) {
      await proc.stop(opts.stopGraceMs);
      throw err;
    }
  }

  private async initialize(instance: RuntimeInstance): Promise<void> {
    const requestId = randomUUID();
    let status: number;
    let body: Buffer;
    try {
      const res = await sendToRuntime(instance.port, {
        method: 'POST',
        path: '/initialize',
        headers: { ...fcHeaders(this.opts.context, requestId), 'content-type': 'application/octet-stream', 'content-length': '0' },
        timeoutMs: this.opts.startTimeoutMs,
      });
      status = res.statusCode ?? 0;
      body = await readBody(res);
    } catch (err) {
      throw new FerryError('INTERNAL', `${instance.process.describe()} failed POST /initialize: ${(err as Error).message}${instance.process.tailSuffix()}`, { cause: err });
    }
    if (status < 200 || status >= 300) {
      const text = body.toString('utf8').slice(0, 500);
      throw new FerryError('INTERNAL', `${instance.process.describe()} answered POST /initialize with ${status}: ${text}${instance.process.tailSuffix()}`);
    }
  }
}
