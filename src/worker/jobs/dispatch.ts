import type { InvokeConfig } from '../config.js';
import type { Credentials } from '../../protocol/credentials.js';
import { FerryError } from '../../protocol/errors.js';
import { acs3Encode, encodePath, FC_API_VERSION, signAcs3 } from '../../protocol/fc-signature.js';
import type { ObjectStore } from '../storage/oss-store.js';
import { encodeJobEvent } from './job-event.js';
import type { JobSpec } from '../../protocol/job.js';

export interface Dispatcher {
  /** `credentials`: the invocation's own (FC's per-request STS key), when it brought any. */
  dispatch(spec: JobSpec, store: ObjectStore, credentials?: Credentials): Promise<void>;
}

/** For a worker with no FC in front (a laptop, a unit test): the job runs on this process's queue. */
export function inProcessDispatcher(run: (spec: JobSpec, store: ObjectStore) => Promise<unknown>, log: (line: string) => void = console.error): Dispatcher {
  return {
    async dispatch(spec, store) {
      run(spec, store).catch((error: unknown) => log(`job ${spec.jobId} crashed: ${String(error)}`));
    },
  };
}

export interface InvokeDispatcherOptions extends InvokeConfig {
  /** FERRY_DISPATCH_SECRET: job events are HMAC-signed with it. */
  secret: string;
  fetch?: typeof fetch;
}

const TIMEOUT_MS = 10_000;
// FC's error bodies are a few hundred bytes; more than this is not an FC error worth quoting.
const MAX_ERROR_CHARS = 400;

// FC 3.0's InvokeFunction (`x-fc-invocation-type: Async`) on this same function: FC answers 202 and
// delivers the event as `POST /invoke`, so the job outlives this request's instance. Signed (ACS3) with
// the invocation's STS credentials: no public trigger or account key, only `fc:InvokeFunction`.
export function invokeFunctionDispatcher(options: InvokeDispatcherOptions): Dispatcher {
  const fetchImpl = options.fetch ?? fetch;
  const path = encodePath(`/${FC_API_VERSION}/functions/${options.functionName}/invocations`);
  const url = new URL(`${options.endpoint}${path}?qualifier=${acs3Encode(options.qualifier)}`);
  return {
    async dispatch(spec, _store, invocationCredentials) {
      const credentials = invocationCredentials ?? options.credentials;
      if (!credentials) {
        throw new FerryError(
          'INTERNAL',
          'The job could not be queued (no credentials to sign the function invocation with: FC passes them per invocation, else set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET).',
        );
      }
      const body = encodeJobEvent(spec, options.secret);
      const headers = signAcs3({
        method: 'POST',
        url,
        action: 'InvokeFunction',
        version: FC_API_VERSION,
        // As Alibaba Cloud's SDK sends an InvokeFunction body: opaque bytes, handed to /invoke as they are.
        headers: { 'content-type': 'application/octet-stream', 'x-fc-invocation-type': 'Async' },
        body,
        credentials,
      });
      // fetch sets Host from the URL itself, the same value that was signed.
      delete headers.host;
      let response: Response;
      let text = '';
      try {
        response = await fetchImpl(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
        if (response.ok) await response.body?.cancel();
        else text = (await response.text()).slice(0, MAX_ERROR_CHARS);
      } catch (error) {
        throw new FerryError('INTERNAL', 'The job could not be queued (the function service did not answer). Try again.', { cause: error });
      }
      if (response.ok) return;
      throw new FerryError('INTERNAL', `The job could not be queued (the function service answered ${response.status}${fcError(text)}). ${advice(response.status)}`);
    },
  };
}

/** FC's `{Code, Message}` (FC 3.0 spells them `code`/`message` in some answers), as `: Code: Message`. */
function fcError(text: string): string {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return text.trim() ? `: ${text.trim()}` : '';
  }
  const code = body.Code ?? body.code;
  const message = body.Message ?? body.message;
  const parts = [code, message].filter((part): part is string => typeof part === 'string' && part !== '');
  return parts.length > 0 ? `: ${parts.join(': ')}` : '';
}

function advice(status: number): string {
  if (status === 401 || status === 403) {
    return "The operator should check that the function's role allows fc:InvokeFunction on this function.";
  }
  if (status === 404) return 'The operator should check FC_FUNCTION_NAME, FERRY_FC_QUALIFIER and FERRY_FC_ENDPOINT.';
  return 'Try again.';
}
