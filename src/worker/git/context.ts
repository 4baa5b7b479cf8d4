import { reblocker, type Transport } from './archive.js';
import { gitEnv } from './env.js';
import { createHttpAgents, type HttpAgents } from './http-agents.js';
import { gitVersionRunner, supportedGitVerdict, type GitVersionRunner } from './version.js';

// Nothing in `git/` keeps state of its own, so a test makes a fresh context and sees no other's.
export interface GitContext {
  readonly allowHttp: boolean;
  readonly timeoutMs: number;
  readonly env: NodeJS.ProcessEnv;
  /** The process's own environment, where ls-refs looks for proxy variables when it runs. */
  readonly processEnv: NodeJS.ProcessEnv;
  readonly agents: HttpAgents;
  readonly log: ((line: string) => void) | undefined;
  /** Hosts whose ls-refs answers fell back to git: logged once each. */
  readonly fellBack: Set<string>;
  transport(): Transport;
  assertSupportedGit(): Promise<void>;
}

export interface GitContextOptions {
  allowHttp: boolean;
  timeoutMs: number;
  log?: ((line: string) => void) | undefined;
  /** The process environment git's is derived from; `process.env` by default. */
  processEnv?: NodeJS.ProcessEnv;
  /** Runs `git --version` (tests inject an old or missing git). */
  runGitVersion?: GitVersionRunner;
  /** Skips the probe (tests, or a machine known to lack perl). */
  transport?: Transport;
}

export function createGitContext(options: GitContextOptions): GitContext {
  const processEnv = options.processEnv ?? process.env;
  const env = gitEnv({ allowHttp: options.allowHttp, base: processEnv });
  let transport = options.transport;
  return {
    allowHttp: options.allowHttp,
    timeoutMs: options.timeoutMs,
    env,
    processEnv,
    agents: createHttpAgents(),
    log: options.log,
    fellBack: new Set(),
    transport: () => (transport ??= reblocker()),
    assertSupportedGit: supportedGitVerdict(options.runGitVersion ?? gitVersionRunner(env)),
  };
}
