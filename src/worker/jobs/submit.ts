import { nanoid } from 'nanoid';
import type { Config } from '../config.js';
import type { Credentials } from '../../protocol/credentials.js';
import { FerryError } from '../../protocol/errors.js';
import type { GitContext } from '../git/context.js';
import type { RefsCache } from '../git/refs-cache.js';
import { assertCommitExists } from '../git/commit-exists.js';
import { refFromTree } from '../git/tree-ref.js';
import { fileRequest } from '../artifacts/file.js';
import type { LookupContext } from '../artifacts/types.js';
import { applyMessage, type DoneResult, type JobSpec, type JobState } from '../../protocol/job.js';
import type { StoreFor } from '../storage/stores.js';
import type { Dispatcher } from './dispatch.js';
import type { NotifierLike } from './notify-listener.js';
import { parseJobId, parseJobRequest, type JobRequest } from './request.js';
import { initialState } from './runner.js';
import type { JobStateStore } from './state-store.js';
import type { WaitingJobs } from './waiting.js';
import type { Liveness } from './liveness.js';
import { clientKeys, type ClientIdentity } from '../quotas/client-keys.js';
import type { Quotas } from '../quotas/quotas.js';

export interface SubmitInput {
  body: unknown;
  /** `x-ca-deviceid`: the gateway sets it on requests over the websocket. */
  deviceIdHeader?: string | null | undefined;
  /** `x-ferry-git-token`: a private repository's token (also `token` in the body). */
  tokenHeader?: string | null | undefined;
  /** The invocation's own credentials (FC's per-request STS key), when it brought any. */
  credentials?: Credentials | undefined;
  /** Who asks, as the gateway tells: what quotas count the job against (with the device id). */
  client?: Omit<ClientIdentity, 'deviceId'> | undefined;
}

export type Submission = { outcome: 'cached'; state: JobState } | { outcome: 'queued'; state: JobState };

export type SubmitJob = (input: SubmitInput) => Promise<Submission>;
export type FindJob = (jobId: string, credentials: Credentials | undefined) => Promise<JobState>;

export interface SubmitDeps {
  config: Config;
  states: JobStateStore;
  dispatcher: Dispatcher;
  notifier: NotifierLike | undefined;
  storeFor: StoreFor;
  git: GitContext;
  refs: RefsCache;
  /** The runner's: a queued job is answered as soon as a build on this instance makes its artifact. */
  waiting?: WaitingJobs | undefined;
  /** Limits for public operation; none when absent (unit tests of other concerns). */
  quotas?: Quotas | undefined;
  /** HMAC key of the quota counters' names (quotas/client-keys.ts). */
  quotaSecret?: string | undefined;
  /** The worker's own app key (FERRY_APP_KEY): clients that share it are not told apart by it, so it is no quota key. */
  sharedAppKey?: string | undefined;
}

// The ref is resolved now, so a wrong ref fails before any job exists (a file URL is checked now too).
export function createSubmit(deps: SubmitDeps): SubmitJob {
  const { config } = deps;
  return async ({ body, deviceIdHeader, tokenHeader, credentials, client }) => {
    const input = parseJobRequest(body, config, deviceIdHeader ?? null, tokenHeader ?? null);
    const store = deps.storeFor(credentials);
    // Quotas before anything asks upstream: a refused client costs no ls-refs.
    const appKey = client?.appKey === deps.sharedAppKey ? undefined : client?.appKey;
    const keys = clientKeys({ ...client, appKey, deviceId: input.deviceId }, deps.quotaSecret ?? '');
    await deps.quotas?.admit(store, keys);
    const ctx: LookupContext = { config, git: deps.git, store, refs: deps.refs };
    const { spec, lookup, confirm, waitFor } = await prepare(input, ctx);
    if (keys.length > 0) spec.quotaKeys = keys.map((key) => key.id);
    const cached = await lookup();
    if (!cached) {
      // Only a job that will build waits in this instance's queue or needs its disk (inline dispatch).
      if (config.dispatch.mode === 'inline') {
        deps.quotas?.assertNotBusy();
        await deps.quotas?.assertDiskRoom();
      }
      await confirm?.();
    }
    const answer = async (result: DoneResult): Promise<JobState> => {
      // What is handed out counts against the client's daily bytes and the deployment's budget.
      await deps.quotas?.served(store, keys, result.size, spec.jobId);
      const done = { v: 1 as const, type: 'done' as const, jobId: spec.jobId, ...result };
      const state = applyMessage(initialState(spec), done);
      await deps.states.save(store, state);
      if (spec.deviceId && deps.notifier) deps.notifier.send(spec.deviceId, spec.jobId, done, { important: true });
      return state;
    };
    if (cached) return { outcome: 'cached', state: await answer(cached) };

    const state = initialState(spec);
    await deps.states.save(store, state);
    // Before dispatching, so the job's run (which may start at once) finds it and takes over.
    const key = deps.waiting ? await waitFor.key().catch(() => undefined) : undefined;
    if (key) deps.waiting?.add({ jobId: spec.jobId, key, lookup: waitFor.lookup, answer: (result) => answer(result).then(() => undefined) });
    try {
      await deps.dispatcher.dispatch(spec, store, credentials);
    } catch (error) {
      deps.waiting?.remove(spec.jobId);
      const failure = error instanceof FerryError ? error : new FerryError('INTERNAL', 'The job could not be queued. Try again.', { cause: error });
      await deps.states.save(store, applyMessage(state, { v: 1, type: 'error', jobId: spec.jobId, ...failure.toJSON() })).catch(() => undefined);
      throw failure;
    }
    return { outcome: 'queued', state };
  };
}

/** The job's record and its cache lookup, for either kind of input. */
async function prepare(input: JobRequest, ctx: LookupContext): Promise<Prepared> {
  const secret = ctx.config.dispatch.secret;
  const base = { jobId: nanoid(), kind: input.kind.name, deviceId: input.deviceId, createdAt: Date.now() };
  if ('target' in input) {
    // A file URL needs no resolving; a cached copy of a mutable file is revalidated upstream here, so a hit needs no job.
    const request = fileRequest(input.target, { requestedAt: base.createdAt, revalidate: true });
    const spec: JobSpec = { ...base, repo: input.target.url, ref: request.ref, commit: request.commit, format: 'file' };
    // Once queued, only a copy fetched since the job was asked for answers it, as in the job's own run.
    const queued = { ...request, revalidate: false };
    const waitFor = { key: () => input.kind.buildKey(queued, ctx), lookup: () => input.kind.lookup(queued, ctx) };
    return { spec, lookup: () => input.kind.lookup(request, ctx), waitFor };
  }
  const ref = input.tree ? refFromTree(input.repo, input.tree, await ctx.refs.get(input.repo)) : input.ref;
  const resolved = await input.kind.resolve(input.repo, ref, ctx);
  const spec: JobSpec = {
    ...base,
    repo: input.repo.canonical,
    ref: resolved.ref,
    commit: resolved.commit,
    format: input.format,
    ...(input.refs && { refs: input.refs }),
    ...(input.have && { have: input.have }),
    // Sealed, never in clear: the spec travels in a job event, which FC stores with the invocation.
    ...(input.repo.access && secret && { sealedToken: input.repo.access.seal(secret) }),
  };
  const request = { repo: input.repo, ref: resolved.ref, commit: resolved.commit, format: input.format, refs: input.refs, have: input.have };
  // A full commit id resolves to itself without asking; upstream is asked only when nothing built from it is
  // cached (an artifact made from the commit proves it), so an id the repository lacks fails now, not in the job.
  const confirm = ref.kind === 'commit' ? () => assertCommitExists(input.repo, ref.commit, ctx.git) : undefined;
  const lookup = (): Promise<DoneResult | undefined> => input.kind.lookup(request, ctx);
  return { spec, lookup, confirm, waitFor: { key: () => input.kind.buildKey(request, ctx), lookup } };
}

interface Prepared {
  spec: JobSpec;
  lookup: () => Promise<DoneResult | undefined>;
  /** Checks upstream what resolving took on trust; run before a job is made. */
  confirm?: (() => Promise<void>) | undefined;
  /** How a queued job is matched with a build here (its build key) and looked up again. */
  waitFor: { key: () => Promise<string>; lookup: () => Promise<DoneResult | undefined> };
}

export function createFindJob(deps: Pick<SubmitDeps, 'states' | 'storeFor'> & { liveness?: Liveness | undefined }): FindJob {
  return async (id, credentials) => {
    const jobId = parseJobId(id);
    let store;
    try {
      store = deps.storeFor(credentials);
    } catch {
      store = undefined; // without storage only this instance's jobs are known
    }
    const state = await deps.states.load(store, jobId);
    if (!state) throw new FerryError('JOB_NOT_FOUND', `No job ${jobId}: it never existed or its record has expired.`);
    // A job whose worker died is decided here, by whoever asks first: its state would never change again.
    return deps.liveness ? deps.liveness.check(store, state) : state;
  };
}
