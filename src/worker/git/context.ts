import { reblocker, type Transport } from './archive.js';
import { gitEnv } from './env.js';
import { createHttpAgents, type HttpAgents } from './http-agents.js';
import { createDestinationGuard, type DestinationGuard, type Resolver } from '../net/destinations.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../upstream-retry.js';
import { gitVersionRunner, supportedGitVerdict, type GitVersionRunner } from './version.js';

// Nothing in `git/` keeps state of its own, so a test makes a fresh context and sees no other's.
export interface GitContext {
  readonly allowHttp: boolean;
  readonly timeoutMs: number;
  /** A fetch, clone or ls-remote silent this long is stalled: killed, and tried again (run-git.ts). */
  readonly stallTimeoutMs: number;
  /** How often a transient upstream failure is tried again (upstream-retry.ts). */
  readonly retry: RetryPolicy;
  readonly env: NodeJS.ProcessEnv;
  /** The process's own environment, where ls-refs looks for proxy variables when it runs. */
  readonly processEnv: NodeJS.ProcessEnv;
  readonly agents: HttpAgents;
  /** The SSRF guard every upstream connection goes through, git's and node's (file downloads too). */
  readonly destinations: DestinationGuard;
  readonly log: ((line: string) => void) | undefined;
  /** Hosts whose ls-refs answers fell back to git: logged once each. */
  readonly fellBack: Set<string>;
  transport(): Transport;
  assertSupportedGit(): Promise<void>;
}

export interface GitContextOptions {
  allowHttp: boolean;
  timeoutMs: number;
  /** FERRY_STALL_TIMEOUT in ms; default 30 s. */
  stallTimeoutMs?: number;
  /** FERRY_UPSTREAM_RETRIES and FERRY_UPSTREAM_BACKOFF_MS; default 3 retries from 1 s. */
  retry?: RetryPolicy;
  log?: ((line: string) => void) | undefined;
  /** The process environment git's is derived from; `process.env` by default. */
  processEnv?: NodeJS.ProcessEnv;
  /** FERRY_ALLOWED_DESTINATIONS; empty (the default) refuses every internal address. */
  allowedDestinations?: readonly string[] | undefined;
  /** How the guard resolves names: dns.lookup by default (tests answer as a hostile DNS would). */
  resolve?: Resolver | undefined;
  /** Runs `git --version` (tests inject an old or missing git). */
  runGitVersion?: GitVersionRunner;
  /** Skips the probe (tests, or a machine known to lack perl). */
  transport?: Transport;
}

const DEFAULT_STALL_TIMEOUT_MS = 30_000;

export function createGitContext(options: GitContextOptions): GitContext {
  const processEnv = options.processEnv ?? process.env;
  const env = gitEnv({ allowHttp: options.allowHttp, base: processEnv });
  let transport = options.transport;
  return {
    allowHttp: options.allowHttp,
    timeoutMs: options.timeoutMs,
    stallTimeoutMs: options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS,
    retry: options.retry ?? DEFAULT_RETRY_POLICY,
    env,
    processEnv,
    agents: createHttpAgents(),
    destinations: createDestinationGuard({ allowed: options.allowedDestinations ?? [], ...(options.resolve && { resolve: options.resolve }) }),
    log: options.log,
    fellBack: new Set(),
    transport: () => (transport ??= reblocker()),
    assertSupportedGit: supportedGitVerdict(options.runGitVersion ?? gitVersionRunner(env)),
  };
}
