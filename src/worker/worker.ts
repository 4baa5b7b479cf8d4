import { createApi } from './api/handler.js';
import type { ApiHandler } from './api/context.js';
import type { Config } from './config.js';
import type { Credentials } from '../protocol/credentials.js';
import { createGitContext } from './git/context.js';
import { MirrorCache } from './git/mirror.js';
import { RefsCache } from './git/refs-cache.js';
import { parseRepoUrl } from './git/url.js';
import { inProcessDispatcher, invokeFunctionDispatcher } from './jobs/dispatch.js';
import { notifyListener, type NotifierLike } from './jobs/notify-listener.js';
import { JobRunner } from './jobs/runner.js';
import { JobStateStore } from './jobs/state-store.js';
import { createLiveness } from './jobs/liveness.js';
import { checkedRepo, withAccess } from './jobs/request.js';
import { requestAccess } from './git/access.js';
import { createFindJob, createSubmit } from './jobs/submit.js';
import { WaitingJobs } from './jobs/waiting.js';
import type { JobSpec, JobState } from '../protocol/job.js';
import { createNotifier } from './notify/notifier.js';
import type { ObjectStore } from './storage/oss-store.js';
import { objectStores } from './storage/stores.js';
import { createDrainer, type Drainer } from './runtime/drain.js';
import { warmUp } from './runtime/warm-up.js';
import { parseClientKeys } from './quotas/client-keys.js';
import { Quotas } from './quotas/quotas.js';
import { SharedCounters } from './quotas/shared-counters.js';

export interface Worker {
  api: ApiHandler;
  runner: JobRunner;
  runJob(spec: JobSpec, credentials: Credentials | undefined): Promise<JobState>;
  /** FC's on-failure destination: the job's event failed on every attempt. */
  jobFailed(spec: JobSpec, credentials: Credentials | undefined, detail: string): Promise<JobState>;
  warmUp(credentials: Credentials | undefined): Promise<void>;
  drainer: Drainer;
}

/** Wire the worker's parts from its config: the one composition root. */
export function createWorker(config: Config, log: (line: string) => void = console.error): Worker {
  const states = new JobStateStore();
  const git = createGitContext({
    allowHttp: config.allowHttp,
    timeoutMs: config.gitTimeoutMs,
    stallTimeoutMs: config.stallTimeoutMs,
    retry: config.upstreamRetry,
    allowedDestinations: config.allowedDestinations,
    log,
  });
  // Jobs queue here only with inline dispatch; async jobs wait in FC's own queue.
  const quotas: Quotas = new Quotas({
    limits: config.quotas,
    counters: new SharedCounters({ log }),
    workDir: config.workDir,
    pending: (): number => (config.dispatch.mode === 'inline' ? runner.pending : 0),
  });
  const mirrors = new MirrorCache({
    workDir: config.workDir,
    git,
    maxBytes: config.mirrorMaxBytes,
    maxFetchBytes: config.quotas.maxFetchBytes,
    beforeFetch: (): Promise<void> => quotas.assertDiskRoom(),
  });
  const refs = new RefsCache({ git });
  const waiting = new WaitingJobs();
  const runner = new JobRunner({ config, git, mirrors, refs, states, waiting, heartbeat: { intervalMs: config.heartbeatMs } });
  const notifier: NotifierLike | undefined = config.notify ? createNotifier({ ...config.notify, log }) : undefined;
  const liveness = createLiveness({ states, notifier, lostAfterMs: config.workerLostAfterMs });

  const storeFor = objectStores(config.oss);

  const execute = async (spec: JobSpec, store: ObjectStore, redelivered: boolean): Promise<JobState> => {
    const listeners = spec.deviceId && notifier ? [notifyListener(notifier, spec.deviceId)] : [];
    const { state, timings } = await runner.run(spec, store, listeners, { redelivered });
    // What was handed out counts against the submitter's daily bytes and the deployment's budget.
    if (state.result) await quotas.served(store, parseClientKeys(spec.quotaKeys), state.result.size, spec.jobId);
    // FC may freeze the instance once the invocation returns: deliver the last messages first.
    await notifier?.flush();
    log(`job ${spec.jobId} ${state.status}${state.error ? ` ${state.error.code}` : ''} ${spec.repo}@${spec.commit.slice(0, 12)} ${spec.format} ${timings}`);
    return state;
  };

  const { invoke, secret } = config.dispatch;
  const dispatcher = invoke && secret ? invokeFunctionDispatcher({ ...invoke, secret }) : inProcessDispatcher((spec, store) => execute(spec, store, false), log);
  const api = createApi({
    submit: createSubmit({ config, states, dispatcher, notifier, storeFor, git, refs, waiting, quotas, quotaSecret: quotaSecret(config), sharedAppKey: config.notify?.appKey }),
    findJob: createFindJob({ states, storeFor, liveness }),
    listRefs: (url, token) => refs.get(withAccess(checkedRepo(parseRepoUrl(url ?? undefined, config), config), requestAccess(undefined, token, config.dispatch.secret))),
    load: () => ({ active: runner.active, pending: runner.pending }),
    log,
  });
  return {
    api,
    runner,
    // Job events are async invocations: FC delivers one again when it fails.
    runJob: (spec, credentials) => execute(spec, storeFor(credentials), true),
    jobFailed: async (spec, credentials, detail) => {
      const state = await liveness.giveUp(storeFor(credentials), spec, detail);
      log(`job ${spec.jobId} ${state.status}${state.error ? ` ${state.error.code}` : ''} ${spec.repo}@${spec.commit.slice(0, 12)} ${spec.format} (async retries spent: ${detail})`);
      return state;
    },
    warmUp: (credentials) =>
      warmUp({ api, git, storeFor, deadUploadMs: config.workerLostAfterMs, log }, credentials).catch((error: unknown) => {
        log(`warm-up: ${String(error)}`);
      }),
    drainer: createDrainer({ runner, flush: async () => notifier?.flush(), log }),
  };
}

/** Keys the quota counters' names; a deployment secret, so the bucket's names reveal no address. */
function quotaSecret(config: Config): string {
  return config.dispatch.secret ?? config.gatewaySecret ?? config.notify?.appSecret ?? 'ferry-quotas';
}
