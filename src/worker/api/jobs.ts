import { nanoid } from 'nanoid';
import { resolveRef } from '../git/resolve.js';
import { lookupCached } from '../jobs/build.js';
import { initialState } from '../jobs/runner.js';
import { applyMessage, stateToJSON, type JobSpec } from '../../protocol/job.js';
import type { ApiDeps, RequestContext } from './context.js';
import { json, readJson } from './http.js';
import { parseJobId, parseJobRequest } from './validate.js';
import { FerryError } from '../../protocol/errors.js';

/**
 * POST /jobs: validate, resolve the ref (so a wrong ref fails here, at once), answer from the cache
 * when the archive exists, else record the job as queued and dispatch it asynchronously.
 */
export async function createJob(request: Request, deps: ApiDeps, context: RequestContext): Promise<Response> {
  const { config } = deps;
  const body = await readJson(request);
  const input = parseJobRequest(body, config, request.headers.get('x-ca-deviceid'));
  const store = deps.storeFor(context.credentials);
  const resolved = await resolveRef(input.repo, input.ref, { allowHttp: config.allowHttp, timeoutMs: config.gitTimeoutMs, log: deps.log });
  const spec: JobSpec = {
    jobId: nanoid(),
    kind: input.kind.name,
    repo: input.repo.canonical,
    ref: resolved.ref,
    commit: resolved.commit,
    format: input.format,
    deviceId: input.deviceId,
    createdAt: Date.now(),
  };

  const cached = await lookupCached(input.kind, store, { repo: input.repo, ref: resolved.ref, commit: resolved.commit, format: input.format }, config);
  if (cached) {
    const done = { v: 1 as const, type: 'done' as const, jobId: spec.jobId, ...cached };
    const state = applyMessage(initialState(spec), done);
    await deps.states.save(store, state);
    if (spec.deviceId && deps.notifier) deps.notifier.send(spec.deviceId, spec.jobId, done, { important: true });
    return json(stateToJSON(state), 200);
  }

  const state = initialState(spec);
  await deps.states.save(store, state);
  try {
    await deps.dispatcher.dispatch(spec, store, context.credentials);
  } catch (error) {
    const failure = error instanceof FerryError ? error : new FerryError('INTERNAL', 'The job could not be queued. Try again.', { cause: error });
    await deps.states.save(store, applyMessage(state, { v: 1, type: 'error', jobId: spec.jobId, ...failure.toJSON() })).catch(() => undefined);
    throw failure;
  }
  return json({ jobId: spec.jobId, kind: spec.kind, status: 'queued', repo: spec.repo, ref: spec.ref, commit: spec.commit, format: spec.format }, 202, {
    location: `/jobs/${spec.jobId}`,
  });
}

/** GET /jobs/:id from this instance's memory or from OSS, whichever is newer. */
export async function getJob(id: string, deps: ApiDeps, context: RequestContext): Promise<Response> {
  const jobId = parseJobId(id);
  let store;
  try {
    store = deps.storeFor(context.credentials);
  } catch {
    store = undefined; // without storage only this instance's jobs are known
  }
  const state = await deps.states.load(store, jobId);
  if (!state) throw new FerryError('JOB_NOT_FOUND', `No job ${jobId}: it never existed or its record has expired.`);
  return json(stateToJSON(state));
}
