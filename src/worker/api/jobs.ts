import { stateToJSON } from '../../protocol/job.js';
import type { ApiDeps, RequestContext } from './context.js';
import { json, readJson } from './http.js';
import { GIT_TOKEN_HEADER } from '../../protocol/git-token.js';

export async function createJob(request: Request, deps: ApiDeps, context: RequestContext): Promise<Response> {
  const body = await readJson(request);
  const { headers } = request;
  const submitted = await deps.submit({
    body,
    deviceIdHeader: headers.get('x-ca-deviceid'),
    ...(headers.has(GIT_TOKEN_HEADER) && { tokenHeader: headers.get(GIT_TOKEN_HEADER) }),
    credentials: context.credentials,
    client: { appKey: headers.get('x-ca-key'), forwardedFor: headers.get('x-forwarded-for') },
  });
  const { state } = submitted;
  if (submitted.outcome === 'cached') return json(stateToJSON(state), 200);
  const { jobId, kind, status, repo, ref, commit, format } = state;
  return json({ jobId, kind, status, repo, ref, commit, format }, 202, { location: `/jobs/${jobId}` });
}

export async function getJob(id: string, deps: ApiDeps, context: RequestContext): Promise<Response> {
  return json(stateToJSON(await deps.findJob(id, context.credentials)));
}
