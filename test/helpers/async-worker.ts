import { join } from 'node:path';
import { startFcEmulator, type FcEmulator } from '../../src/local/fc/index.js';
import type { OssServer } from '../../src/local/oss/index.js';
import type { GitServer } from './git-server.js';
import { ossEnv } from './oss-env.js';
import { ROOT } from './worker-process.js';

export interface AsyncWorkerOptions {
  git: GitServer;
  oss: OssServer;
  /** The FC key the emulator hands the runtime (and checks InvokeFunction signatures against). */
  key: { accessKeyId: string; accessKeySecret: string };
  workDir: string;
  env?: Record<string, string>;
  /** The runtime's output lines and the emulator's notes. */
  log?: (line: string) => void;
  /** FC's on-failure destination to the function itself, as deployed. Default true. */
  failureDestination?: boolean;
}

/**
 * The worker behind the FC emulator, dispatching its jobs to itself as async invocations through the
 * emulator's InvokeFunction API: the production shape, with FC's retry of failed invocations.
 */
export function startAsyncWorker(options: AsyncWorkerOptions): Promise<FcEmulator> {
  return startFcEmulator({
    bootstrap: join(ROOT, 'bootstrap'),
    cwd: ROOT,
    credentials: options.key,
    // As deployed: a job event whose retries are spent comes back as a failure-destination event.
    failureDestination: options.failureDestination ?? true,
    ...(options.log && { log: options.log }),
    env: (front) => ({
      ...ossEnv(options.oss),
      FERRY_WORK_DIR: options.workDir,
      FERRY_ALLOWED_HOSTS: options.git.host,
      FERRY_ALLOWED_DESTINATIONS: options.git.host,
      FERRY_ALLOW_HTTP: '1',
      FERRY_DISPATCH: 'async',
      FERRY_FC_ENDPOINT: front.url,
      FERRY_DISPATCH_SECRET: 'async-worker-test-secret',
      ...options.env,
    }),
  });
}
