import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/protocol/errors.js';
import { signAcs3 } from '../../src/protocol/fc-signature.js';
import type { Credentials } from '../../src/protocol/credentials.js';
import { decodeJobEvent, isJobEvent } from '../../src/worker/jobs/job-event.js';
import { invokeFunctionDispatcher } from '../../src/worker/jobs/dispatch.js';
import type { JobSpec } from '../../src/protocol/job.js';
import { startFcEmulator, type FcEmulator } from '../../src/local/fc/index.js';
import type { ObjectStore } from '../../src/worker/storage/oss-store.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT } from '../helpers/worker-process.js';

// FC's InvokeFunction OpenAPI takes only ACS3-signed requests; the emulator checks them against the
// key it hands the runtime. A fake runtime records what reaches /invoke.
const bootstrap = join(ROOT, 'test/fixtures/fake-runtime/bootstrap');
const credentials: Credentials = { accessKeyId: 'STS.auth-test', accessKeySecret: 'auth-secret', securityToken: 'auth-token' };
const SECRET = 'dispatch-test-secret';
const tmp = mkdtempSync(join(tmpdir(), 'ferry-fc-auth-'));
const recordFile = join(tmp, 'calls.jsonl');
let fc: FcEmulator;

beforeAll(async () => {
  chmodSync(bootstrap, 0o755);
  fc = await startFcEmulator({ bootstrap, credentials, env: { FAKE_RECORD_FILE: recordFile } });
});
afterAll(async () => {
  await fc?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Bodies of the events delivered to the runtime's /invoke so far. */
function delivered(): string[] {
  if (!existsSync(recordFile)) return [];
  return readFileSync(recordFile, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { kind: string; url: string; body: string })
    .filter((r) => r.kind === 'start' && r.url === '/invoke')
    .map((r) => r.body);
}

type Tamper = (headers: Record<string, string>) => void;

async function invoke(body: string, sign: { credentials?: Credentials; date?: Date; tamper?: Tamper } | undefined): Promise<Response> {
  const url = new URL(`${fc.invokeUrl}?qualifier=LATEST`);
  let headers: Record<string, string> = { 'x-fc-invocation-type': 'Async', 'content-type': 'application/octet-stream' };
  if (sign) {
    headers = signAcs3({ method: 'POST', url, action: 'InvokeFunction', version: '2023-03-30', headers, body, credentials: sign.credentials ?? credentials, date: sign.date });
    delete headers.host;
    sign.tamper?.(headers);
  }
  return fetch(url, { method: 'POST', headers, body });
}

describe('the FC emulator’s InvokeFunction', () => {
  it('accepts a correctly signed async invocation with 202 and delivers it', async () => {
    const res = await invoke('{"tag":"signed-ok"}', {});
    expect(res.status).toBe(202);
    await waitFor(() => delivered().includes('{"tag":"signed-ok"}'), 10_000, 'the signed event at /invoke');
  });

  it.each([
    ['no signature', undefined, 401, 'MissingAuthorization'],
    ['a wrong secret', { credentials: { ...credentials, accessKeySecret: 'not-it' } }, 403, 'SignatureDoesNotMatch'],
    ['an unknown key', { credentials: { ...credentials, accessKeyId: 'LTAI-stranger' } }, 403, 'InvalidAccessKeyId.NotFound'],
    ['another STS token', { credentials: { ...credentials, securityToken: 'stolen' } }, 403, 'InvalidSecurityToken.Mismatch'],
    ['a date 16 minutes old', { date: new Date(Date.now() - 16 * 60 * 1000) }, 403, 'InvalidTimeStamp.Expired'],
    ['a body changed after signing', { tamper: ((h) => void (h['x-acs-content-sha256'] = '0'.repeat(64))) as Tamper }, 403, 'ContentSha256Mismatch'],
    ['an unsigned date', { tamper: ((h) => void (h.authorization = (h.authorization ?? '').replace(';x-acs-date', ''))) as Tamper }, 401, 'IncompleteSignature'],
  ] as const)('refuses %s in FC’s error shape', async (what, sign, status, code) => {
    const tag = `refused-${what}`;
    const res = await invoke(JSON.stringify({ tag }), sign);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ Code: code, Message: expect.any(String), RequestId: expect.any(String) });
    expect(delivered().some((body) => body.includes(tag))).toBe(false);
  });
});

const spec: JobSpec = { jobId: 'job-dispatch-1', repo: 'https://github.com/o/r', ref: 'refs/heads/main', commit: 'a'.repeat(40), format: 'zip', createdAt: 1 };
const store = {} as ObjectStore;

describe('invokeFunctionDispatcher against the emulator', () => {
  const target = () => ({ endpoint: fc.url, functionName: 'ferry', qualifier: 'LATEST', secret: SECRET, credentials: undefined });

  it('queues the job as a signed job event on this function', async () => {
    await invokeFunctionDispatcher(target()).dispatch(spec, store, credentials);
    const event = await waitFor(() => delivered().find((body) => body.includes(spec.jobId)), 10_000, 'the job event at /invoke');
    const parsed: unknown = JSON.parse(event);
    expect(isJobEvent(parsed) && decodeJobEvent(parsed, SECRET)).toMatchObject({ jobId: spec.jobId, commit: spec.commit });
  });

  it('falls back to the environment’s key when the invocation brought none', async () => {
    await invokeFunctionDispatcher({ ...target(), credentials }).dispatch({ ...spec, jobId: 'job-env-key' }, store, undefined);
    await waitFor(() => delivered().some((body) => body.includes('job-env-key')), 10_000, 'the job event signed with the env key');
  });

  it.each([
    ['a key FC refuses', {}, { ...credentials, accessKeySecret: 'wrong' }, /answered 403: SignatureDoesNotMatch: .*fc:InvokeFunction/],
    ['another function', { functionName: 'other' }, credentials, /answered 404: FunctionNotFound: .*FC_FUNCTION_NAME/],
    ['no credentials at all', {}, undefined, /no credentials to sign/],
    ['no function service', { endpoint: 'http://127.0.0.1:9' }, credentials, /did not answer/],
  ] as const)('fails with INTERNAL naming FC’s answer for %s', async (_what, overrides, given, message) => {
    const failure = await invokeFunctionDispatcher({ ...target(), ...overrides }).dispatch(spec, store, given).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(FerryError);
    expect(failure).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(message) });
  });
});
