import { spawn } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import { FerryError } from '../../protocol/errors.js';

const TAIL_LINES = 30;

export interface SpawnRuntimeOptions {
  command: string;
  cwd?: string;
  env: Record<string, string>;
  onLine: (line: string) => void;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

// Spawned `detached`, so it leads its own process group: bootstrap execs node (or runs it as a child),
// and the worker spawns git; killing `-pid` reaches all of them.
export class RuntimeProcess {
  readonly pid: number | undefined;
  exitInfo: ExitInfo | undefined;
  /** Resolves once the process has exited and its output is drained. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Set when the OS refused to start it (ENOENT, EACCES). */
  spawnError: Error | undefined;
  private readonly tailLines: string[] = [];

  constructor(private readonly opts: SpawnRuntimeOptions) {
    const child = spawn(opts.command, [], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.pid = child.pid;
    if (this.pid !== undefined) liveGroups.add(this.pid);
    ensureExitHandler();

    // Read both streams even when nobody logs them: a full pipe would block the runtime.
    const closed = Promise.all([this.readLines(child.stdout), this.readLines(child.stderr)]);
    this.exited = new Promise<ExitInfo>((resolve) => {
      const finish = (info: ExitInfo): void => {
        if (this.exitInfo) return;
        this.exitInfo = info;
        if (this.pid !== undefined) {
          // Whatever the leader left behind in its group (git, a non-exec'd node) goes with it.
          killGroup(this.pid, 'SIGKILL');
          liveGroups.delete(this.pid);
        }
        // Wait briefly for the last output lines so failure messages are complete.
        void Promise.race([closed, delay(1000, undefined, { ref: false })]).then(() => resolve(info));
      };
      child.once('exit', (code, signal) => finish({ code, signal }));
      child.once('error', (err) => {
        this.spawnError = err;
        finish({ code: null, signal: null });
      });
    });
  }

  get alive(): boolean {
    return this.exitInfo === undefined && this.pid !== undefined;
  }

  tail(): string {
    return this.tailLines.join('\n');
  }

  async stop(graceMs: number): Promise<void> {
    if (!this.alive || this.pid === undefined) {
      await this.exited;
      return;
    }
    killGroup(this.pid, 'SIGTERM');
    // Unref'd: a grace timer that lost the race must not keep the host process (ferry get) alive.
    const exitedInTime = await Promise.race([this.exited.then(() => true), delay(graceMs, undefined, { ref: false }).then(() => false)]);
    if (!exitedInTime) killGroup(this.pid, 'SIGKILL');
    await this.exited;
  }

  async waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.alive) {
        await this.exited;
        throw new FerryError('INTERNAL', `${this.describe()} ${this.describeExit()} before listening on port ${port}.${this.tailSuffix()}`);
      }
      if (await canConnect(port)) return;
      if (Date.now() >= deadline) {
        throw new FerryError('TIMEOUT', `${this.describe()} did not listen on port ${port} (FC_SERVER_PORT) within ${timeoutMs} ms.${this.tailSuffix()}`);
      }
      await delay(50);
    }
  }

  describe(): string {
    return `FC runtime ${this.opts.command}`;
  }

  describeExit(): string {
    if (this.spawnError) {
      const code = (this.spawnError as NodeJS.ErrnoException).code;
      const hint = code === 'EACCES' ? ' (is it executable? chmod +x)' : code === 'ENOENT' ? ' (no such file)' : '';
      return `could not be started: ${this.spawnError.message}${hint}`;
    }
    const info = this.exitInfo;
    if (!info) return 'is running';
    return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
  }

  tailSuffix(): string {
    const tail = this.tail();
    return tail ? `\nLast output:\n${tail}` : '';
  }

  private async readLines(stream: Readable | null): Promise<void> {
    if (!stream) return;
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    for await (const line of lines) {
      this.tailLines.push(line);
      if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
      this.opts.onLine(line);
    }
  }
}

/** A port nobody listens on right now, on all interfaces (the runtime binds 0.0.0.0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

// Detached children outlive the parent unless killed, so one synchronous `exit` handler takes
// down every group still running when the emulator's host process ends without close().
const liveGroups = new Set<number>();
let exitHandlerInstalled = false;

function ensureExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.once('exit', () => {
    for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  });
}
