import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createApi } from '../../../src/worker/api/handler.js';
import type { ApiDeps } from '../../../src/worker/api/context.js';
import { archiveObject } from '../../../src/worker/artifacts/archive.js';
import { loadConfig } from '../../../src/worker/config.js';
import { FerryError } from '../../../src/protocol/errors.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createFindJob, createSubmit, type SubmitDeps, type SubmitJob } from '../../../src/worker/jobs/submit.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer } from '../../helpers/git-server.js';
import { MemoryStore } from '../fakes.js';

// A full commit id is checked upstream at submit: the real git server answers, so the real submit runs here.
const server = await startGitServer({ root: await fixtureRoot() });
afterAll(() => server.close());
const config = loadConfig({ FERRY_ALLOWED_HOSTS: server.host, FERRY_ALLOW_HTTP: '1' });
const COMMIT = await gitRevParse(join(server.root, 'fixtures/basic.git'), 'HEAD');
// Cached: its artifact is in the store, so nobody asks whether the repository has it.
const CACHED = 'd'.repeat(40);
const URL_ = `${server.url}/fixtures/basic`;

class RecordingDispatcher implements Dispatcher {
  readonly specs: JobSpec[] = [];
  async dispatch(spec: JobSpec): Promise<void> {
    this.specs.push(spec);
  }
}

/** The API over the real jobs layer, with an in-memory store, a recording dispatcher and no notifier. */
async function api(overrides: Partial<ApiDeps> = {}) {
  const store = new MemoryStore();
  const dispatcher = new RecordingDispatcher();
  const states = new JobStateStore();
  const git = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: [server.host] });
  const deps: SubmitDeps = { config, states, dispatcher, notifier: undefined, storeFor: () => store, git, refs: new RefsCache({ git }) };
  const request = { repo: parseRepoUrl(URL_, config), ref: CACHED, commit: CACHED, format: 'zip' as const };
  const manifest = { v: 1, repo: URL_, commit: CACHED, format: 'zip', filename: 'repo-ddddddd.zip', size: 3, sha256: 'f'.repeat(64), createdAt: 1 };
  await store.put(archiveObject.keys(request).manifest, Buffer.from(JSON.stringify(manifest)));
  const submit = createSubmit(deps);
  const logged: string[] = [];
  const handler = createApi({
    submit,
    findJob: createFindJob(deps),
    listRefs: (url) => deps.refs.get(parseRepoUrl(url ?? undefined, config)),
    load: () => ({ active: 1, pending: 2 }),
    log: (line) => logged.push(line),
    ...overrides,
  });
  return { handler, dispatcher, logged, submit };
}

interface Case {
  name: string;
  method: string;
  path: string;
  body?: string | ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
  status: number;
  /** The error code, for failures; every failure is exactly `{code, message, status}`, status equal to the HTTP one. */
  code?: string;
  message?: RegExp;
  /** For successes: fields the JSON answer must have. */
  json?: Record<string, unknown>;
}

const post = (body: unknown): string => JSON.stringify(body);

/** A body sent in chunks with no length declared, larger in total than the 128 KiB limit. */
function chunkedBody(bytes: number): ReadableStream<Uint8Array> {
  let left = bytes;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const size = Math.min(left, 4096);
      left -= size;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
}

const cases: Case[] = [
  { name: 'health', method: 'GET', path: '/healthz', status: 200, json: { ok: true, active: 1, pending: 2 } },
  { name: 'health by HEAD', method: 'HEAD', path: '/healthz', status: 200 },
  { name: 'health by POST', method: 'POST', path: '/healthz', status: 405, code: 'METHOD_NOT_ALLOWED', message: /GET or HEAD/ },
  { name: 'jobs by GET', method: 'GET', path: '/jobs', status: 405, code: 'METHOD_NOT_ALLOWED', message: /Use POST/ },
  { name: 'a job by POST', method: 'POST', path: '/jobs/job-12345678', status: 405, code: 'METHOD_NOT_ALLOWED' },
  { name: 'unknown path', method: 'GET', path: '/nope', status: 404, code: 'NOT_FOUND', message: /No route for GET \/nope/ },
  { name: 'queued', method: 'POST', path: '/jobs', body: post({ url: URL_, ref: COMMIT }), status: 202, json: { kind: 'archive', status: 'queued', commit: COMMIT, format: 'zip' } },
  { name: 'kind named', method: 'POST', path: '/jobs', body: post({ kind: 'archive', url: URL_, ref: COMMIT, format: 'tar.gz' }), status: 202, json: { kind: 'archive', format: 'tar.gz' } },
  { name: 'cached', method: 'POST', path: '/jobs', body: post({ url: URL_, ref: CACHED }), status: 200, json: { status: 'done', cached: true, filename: 'repo-ddddddd.zip' } },
  { name: 'bad JSON', method: 'POST', path: '/jobs', body: '{"url":', status: 400, code: 'INVALID_JSON', message: /not valid JSON/ },
  // JSON.parse would keep the second url; the first is what a filter reading the text might have checked.
  { name: 'duplicate key', method: 'POST', path: '/jobs', body: `{"url":"file:///etc/passwd","url":"${URL_}","ref":"${COMMIT}"}`, status: 400, code: 'INVALID_JSON', message: /"url" twice \(in \$\)/ },
  { name: 'duplicate key spelled with an escape', method: 'POST', path: '/jobs', body: `{"url":"${URL_}","u\\u0072l":"${URL_}","ref":"${COMMIT}"}`, status: 400, code: 'INVALID_JSON', message: /"url" twice/ },
  { name: 'duplicate key in a nested object', method: 'POST', path: '/jobs', body: `{"url":"${URL_}","ref":"${COMMIT}","x":[{"a":1,"a":2}]}`, status: 400, code: 'INVALID_JSON', message: /"a" twice \(in \$\.x\[0\]\)/ },
  { name: 'empty body', method: 'POST', path: '/jobs', body: '', status: 400, code: 'INVALID_JSON', message: /empty/ },
  { name: 'not an object', method: 'POST', path: '/jobs', body: '[1]', status: 400, code: 'BAD_REQUEST', message: /JSON object/ },
  { name: 'missing url', method: 'POST', path: '/jobs', body: post({ ref: COMMIT }), status: 400, code: 'INVALID_URL', message: /Expected `url`/ },
  { name: 'host not allowed', method: 'POST', path: '/jobs', body: post({ url: 'https://example.internal/o/r' }), status: 403, code: 'HOST_NOT_ALLOWED' },
  { name: 'unknown kind', method: 'POST', path: '/jobs', body: post({ kind: 'tarball', url: URL_ }), status: 400, code: 'BAD_REQUEST', message: /`kind` to be one of archive, bundle, file, got "tarball"/ },
  { name: 'kind not a string', method: 'POST', path: '/jobs', body: post({ kind: 7, url: URL_ }), status: 400, code: 'BAD_REQUEST', message: /`kind` to be one of archive/ },
  { name: 'bad ref', method: 'POST', path: '/jobs', body: post({ url: URL_, ref: 'a..b' }), status: 400, code: 'INVALID_REF', message: /not a valid ref/ },
  { name: 'bad format', method: 'POST', path: '/jobs', body: post({ url: URL_, format: 'rar' }), status: 400, code: 'INVALID_FORMAT', message: /zip, tar.gz/ },
  { name: 'unknown field', method: 'POST', path: '/jobs', body: post({ url: URL_, branch: 'main' }), status: 400, code: 'BAD_REQUEST', message: /Unknown field "branch"/ },
  { name: 'bad device id', method: 'POST', path: '/jobs', body: post({ url: URL_, deviceId: 'no spaces' }), status: 400, code: 'INVALID_DEVICE_ID' },
  { name: 'too large, declared', method: 'POST', path: '/jobs', body: ' '.repeat(129 * 1024), status: 413, code: 'PAYLOAD_TOO_LARGE', message: /128 KiB/ },
  { name: 'too large, chunked', method: 'POST', path: '/jobs', body: chunkedBody(160 * 1024), status: 413, code: 'PAYLOAD_TOO_LARGE' },
  { name: 'unknown job', method: 'GET', path: '/jobs/job-unknown-0001', status: 404, code: 'JOB_NOT_FOUND', message: /No job job-unknown-0001/ },
  { name: 'malformed job id', method: 'GET', path: '/jobs/x', status: 404, code: 'JOB_NOT_FOUND', message: /8-64 letters/ },
  { name: 'register', method: 'POST', path: '/register', headers: { 'x-ca-deviceid': 'device-1' }, status: 200, json: { ok: true, deviceId: 'device-1', registered: true } },
  { name: 'unregister', method: 'POST', path: '/unregister', headers: { 'x-ca-deviceid': 'device-1' }, status: 200, json: { registered: false } },
  { name: 'register without device', method: 'POST', path: '/register', status: 400, code: 'INVALID_DEVICE_ID', message: /x-ca-deviceid/ },
];

function toRequest(c: Case): Request {
  const init: RequestInit & { duplex?: 'half' } = { method: c.method, headers: c.headers };
  if (typeof c.body === 'string') {
    init.body = c.body;
  } else if (c.body) {
    init.body = c.body;
    init.duplex = 'half';
  }
  return new Request(`http://worker.test${c.path}`, init);
}

describe('createApi', () => {
  it.each(cases)('$name: $method $path → $status', async (c) => {
    const { handler } = await api();
    const response = await handler(toRequest(c));
    expect(response.status).toBe(c.status);
    if (c.method === 'HEAD') return;
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await response.json()) as Record<string, unknown>;
    if (c.code) {
      expect(Object.keys(body).sort()).toEqual(['code', 'message', 'status']);
      expect(body.code).toBe(c.code);
      expect(body.status).toBe(c.status);
      if (c.message) expect(body.message).toMatch(c.message);
    } else {
      expect(body).toMatchObject(c.json ?? {});
    }
  });

  it('answers 202 with the job and its Location, and dispatches it', async () => {
    const { handler, dispatcher } = await api();
    const response = await handler(toRequest({ name: '', method: 'POST', path: '/jobs', body: post({ url: URL_, ref: COMMIT }), headers: { 'x-ca-deviceid': 'device-9' }, status: 202 }));
    const body = (await response.json()) as { jobId: string };
    expect(response.headers.get('location')).toBe(`/jobs/${body.jobId}`);
    expect(Object.keys(body).sort()).toEqual(['commit', 'format', 'jobId', 'kind', 'ref', 'repo', 'status']);
    expect(dispatcher.specs).toEqual([expect.objectContaining({ jobId: body.jobId, deviceId: 'device-9' })]);
    const state = await handler(new Request(`http://worker.test/jobs/${body.jobId}`));
    expect(await state.json()).toMatchObject({ jobId: body.jobId, kind: 'archive', status: 'queued' });
  });

  it('hands submit the parsed body, the device header and the invocation credentials', async () => {
    const seen: Parameters<SubmitJob>[0][] = [];
    const credentials = { accessKeyId: 'LTAI-sts', accessKeySecret: 'secret', securityToken: 'token' };
    const { handler } = await api({
      submit: async (input) => {
        seen.push(input);
        throw new FerryError('REF_NOT_FOUND', 'No branch or tag named "x".');
      },
    });
    const response = await handler(toRequest({ name: '', method: 'POST', path: '/jobs', body: post({ url: URL_ }), headers: { 'x-ca-deviceid': 'd-1' }, status: 404 }), { credentials });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ code: 'REF_NOT_FOUND', message: 'No branch or tag named "x".', status: 404 });
    expect(seen).toEqual([{ body: { url: URL_ }, deviceIdHeader: 'd-1', credentials, client: { appKey: null, forwardedFor: null } }]);
  });

  it('answers an unexpected failure with 500 INTERNAL, keeping its details in the log', async () => {
    const { handler, logged } = await api({
      findJob: async () => {
        throw new Error('disk on fire at /secret/path');
      },
    });
    const response = await handler(new Request('http://worker.test/jobs/job-12345678'));
    expect(response.status).toBe(500);
    const body = (await response.json()) as { code: string; message: string };
    expect(body.code).toBe('INTERNAL');
    expect(body.message).not.toContain('/secret/path');
    expect(logged.join('\n')).toContain('disk on fire');
  });
});
