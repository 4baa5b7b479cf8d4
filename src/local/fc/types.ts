import type { Credentials } from '../../protocol/credentials.js';

export interface FcFront {
  url: string;
  invokeUrl: string;
}

export interface FcEmulatorOptions {
  /** Path to the custom runtime's `bootstrap`, spawned directly (no shell) like FC does; a relative path resolves against `cwd`. */
  bootstrap: string;
  /** Working directory of the runtime; defaults to the current one. */
  cwd?: string;
  /** Extra runtime env (FC_* variables win); as a function it gets the emulator's addresses, for async self-dispatch. */
  env?: Record<string, string> | ((front: FcFront) => Record<string, string>);
  /** Function name in the invoke path and the `x-fc-function-name` header. Default `ferry`. */
  functionName?: string;
  /** Default `cn-hongkong`. */
  region?: string;
  accountId?: string;
  /** Sent as `x-fc-access-key-*` headers and `ALIBABA_CLOUD_*` env; when set, the invoke API takes only ACS3-signed requests. */
  credentials?: Credentials;
  /** Address of the emulator's own front. Default `127.0.0.1`. */
  host?: string;
  /** Port of the emulator's own front; 0 (default) picks a free one. */
  port?: number;
  /** How long to wait for the runtime to accept connections. Default 15000. */
  startTimeoutMs?: number;
  /**
   * FC's on-failure destination pointing at this same function (as template.yml and s.yaml deploy it): once
   * an async invocation's retries are spent, the function is invoked with the failed event's context.
   * Default false (FC's default: no destination).
   */
  failureDestination?: boolean;
  /** How many async invocations run at once. Default 4. */
  asyncConcurrency?: number;
  /** How long `close()` waits after SIGTERM before SIGKILL. Default 3000. */
  stopGraceMs?: number;
  /** How long `close()` lets the runtime's `GET /pre-stop` (FC's PreStop hook) take before SIGTERM. Default 10000. */
  preStopTimeoutMs?: number;
  /** Receives the runtime's stdout/stderr lines and the emulator's own notes. Default: dropped. */
  log?: (line: string) => void;
}

export interface FcInvokeResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface FcEmulator {
  /** `http://127.0.0.1:PORT`, the front: FC's invoke API plus the HTTP trigger. */
  url: string;
  invokeUrl: string;
  /** Invoke through the front, as a client would (signed with `credentials`). `async` answers 202 at once and queues the event. */
  invoke(event: Uint8Array | string, opts?: { async?: boolean }): Promise<FcInvokeResult>;
  runtimePid(): number | undefined;
  /** Stops the runtime (GET /pre-stop, then SIGTERM, then SIGKILL after a grace period) and the front. */
  close(): Promise<void>;
}
