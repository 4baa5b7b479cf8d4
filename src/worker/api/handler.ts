import { FerryError } from '../../protocol/errors.js';
import { safeDecode } from '../../util/safe-decode.js';
import { VERSION } from '../../util/version.js';
import type { ApiDeps, ApiHandler } from './context.js';
import { json, problem } from './http.js';
import { GIT_TOKEN_HEADER } from '../../protocol/git-token.js';
import { createJob, getJob } from './jobs.js';
import { parseDeviceId } from '../jobs/request.js';

// The FC runtime (events and HTTP triggers) and the tests call this same handler.
export function createApi(deps: ApiDeps): ApiHandler {
  return async (request, context = {}) => {
    const { pathname, searchParams } = new URL(request.url);
    const method = request.method.toUpperCase();
    try {
      if (pathname === '/healthz') {
        allow(method, 'GET', 'HEAD');
        return json({ ok: true, version: VERSION, ...deps.load() });
      }
      if (pathname === '/jobs') {
        allow(method, 'POST');
        return await createJob(request, deps, context);
      }
      if (pathname === '/refs') {
        allow(method, 'GET');
        return json(await deps.listRefs(searchParams.get('url'), request.headers.get(GIT_TOKEN_HEADER)));
      }
      const job = /^\/jobs\/([^/]+)$/.exec(pathname);
      if (job) {
        allow(method, 'GET');
        // A malformed %-escape stays as it is: job ids have no `%`, so it is answered JOB_NOT_FOUND, not a URIError's 500.
        return await getJob(safeDecode(job[1] as string), deps, context);
      }
      if (pathname === '/register' || pathname === '/unregister') {
        allow(method, 'POST');
        // The gateway adds x-ca-deviceid to REGISTER/UNREGISTER; the worker keeps no device state,
        // because the gateway owns the connection and NOTIFY names the device on every push.
        const deviceId = parseDeviceId(request.headers.get('x-ca-deviceid'));
        if (!deviceId) throw new FerryError('INVALID_DEVICE_ID', 'The x-ca-deviceid header is missing: register through the gateway websocket.');
        return json({ ok: true, deviceId, registered: pathname === '/register' });
      }
      throw new FerryError('NOT_FOUND', `No route for ${method} ${pathname.slice(0, 100)}. See the protocol docs for the API.`);
    } catch (error) {
      if (!(error instanceof FerryError)) deps.log?.(`api ${method} ${pathname}: ${(error as Error)?.stack ?? String(error)}`);
      return problem(error);
    }
  };
}

function allow(method: string, ...allowed: string[]): void {
  if (!allowed.includes(method)) {
    throw new FerryError('METHOD_NOT_ALLOWED', `Use ${allowed.join(' or ')} here, not ${method}.`);
  }
}
