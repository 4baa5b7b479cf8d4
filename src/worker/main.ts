import { configuredSecrets, loadConfig } from './config.js';
import { createRedactor } from '../protocol/redact.js';
import { VERSION } from '../util/version.js';
import { createRuntimeServer } from './runtime/server.js';
import { createWorker } from './worker.js';

/** Entry point started by ./bootstrap, on FC and locally alike. */
const config = loadConfig();
// Every line this process writes passes here: FC keeps stdout in its logs, for anyone with log access to read.
const redact = createRedactor(configuredSecrets(config));
const log = (line: string): void => {
  process.stdout.write(`${redact(line)}\n`);
};
const worker = createWorker(config, log);
const server = createRuntimeServer({
  api: worker.api,
  runJob: worker.runJob,
  jobFailed: worker.jobFailed,
  warmUp: worker.warmUp,
  gatewaySecret: config.gatewaySecret,
  dispatchSecret: config.dispatch?.secret || undefined,
  httpApi: config.httpApi,
  drainer: worker.drainer,
  preStopGraceMs: config.preStopGraceMs,
  log,
});

server.listen(config.port, config.listenHost, () => {
  const address = server.address();
  log(`ferry worker ${VERSION} listening on ${config.listenHost}:${typeof address === 'object' && address ? address.port : config.port}`);
  if (!config.httpApi && !config.gatewaySecret) {
    log('warning: FERRY_HTTP_API=0 without FERRY_GATEWAY_SECRET: API-gateway events posted to /invoke are not authenticated');
  }
  // With credentials in the environment there is no need to wait for /initialize (or a first request).
  void worker.warmUp(undefined);
});

// One job's stray promise must never take down the instance serving the others. (Uncaught
// exceptions still end the process: state may be corrupt, and FC starts a fresh instance.)
process.on('unhandledRejection', (reason) => log(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`));

// FC sends SIGTERM when it reclaims an instance, after the PreStop hook has drained it. Without the hook
// (or outside FC: docker stop, Ctrl+C) the same drain runs here on FERRY_SIGTERM_GRACE: short jobs
// finish, the rest end with WORKER_STOPPING, stored and pushed, and their events are answered as failed
// so FC runs them again elsewhere.
const SIGTERM_BUDGET = { graceMs: config.sigtermGraceMs, cleanupMs: 2000 };
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    void worker.drainer.drain(SIGTERM_BUDGET).finally(() => {
      // Then stop accepting, let in-flight responses finish, and go when they have (or soon after).
      server.close(() => process.exit(0));
      server.closeIdleConnections();
      setTimeout(() => process.exit(0), 1000).unref();
    });
  });
}
