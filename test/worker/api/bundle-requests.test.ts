import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../../src/worker/api/handler.js';
import { loadConfig, type Config } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import { JobRunner } from '../../../src/worker/jobs/runner.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createFindJob, createSubmit } from '../../../src/worker/jobs/submit.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { parseRefsAnswer } from '../../../src/protocol/remote-refs.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { MemoryStore } from '../fakes.js';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';

// POST /jobs for bundles and GET /refs through the real handler and jobs layer, against the test git
// server. Bad input must fail at the edge with {code, message}, before any job exists.

let server: GitServer;
let root: string;
let temp: string;
let config: Config;
let basic: string;

beforeAll(async () => {
  root = await fixtureRoot();
  server = await startGitServer({ root });
  temp = await mkdtemp(join(tmpdir(), 'ferry-bundle-api-'));
  config = loadConfig({ FERRY_ALLOWED_HOSTS: server.host, FERRY_ALLOW_HTTP: '1', FERRY_WORK_DIR: join(temp, 'work') });
  basic = `${server.url}/fixtures/basic`;
});

afterAll(async () => {
  await server?.close();
  await rm(temp, { recursive: true, force: true });
});

class RecordingDispatcher implements Dispatcher {
  readonly specs: JobSpec[] = [];
  async dispatch(spec: JobSpec): Promise<void> {
    this.specs.push(spec);
  }
}

function api() {
  const store = new MemoryStore();
  const dispatcher = new RecordingDispatcher();
  const states = new JobStateStore();
  const git = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: [server.host] });
  const refs = new RefsCache({ git });
  const deps = { config, states, dispatcher, notifier: undefined, storeFor: () => store, git, refs };
  const handler = createApi({
    submit: createSubmit(deps),
    findJob: createFindJob(deps),
    listRefs: (url) => refs.get(parseRepoUrl(url ?? undefined, config)),
    load: () => ({ active: 0, pending: 0 }),
  });
  const runner = new JobRunner({ config, git, mirrors: new MirrorCache({ workDir: config.workDir, git }), refs, states });
  return { handler, dispatcher, store, runner };
}

const postJob = (body: unknown): Request =>
  new Request('http://worker.test/jobs', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const getRefs = (query: string): Request => new Request(`http://worker.test/refs${query}`);

const hex = (n: number, length = 40): string => n.toString(16).padStart(length, '0');

interface BadCase {
  name: string;
  body: Record<string, unknown>;
  code: string;
  message?: RegExp;
}

const bundle = (fields: Record<string, unknown>): Record<string, unknown> => ({ kind: 'bundle', url: 'BASIC', ...fields });

const badJobs: BadCase[] = [
  { name: 'a have that is not hex', body: bundle({ have: ['not-a-commit'] }), code: 'INVALID_HAVE', message: /40 or 64 hex digits\), got "not-a-commit"/ },
  { name: 'a short have', body: bundle({ have: ['a'.repeat(39)] }), code: 'INVALID_HAVE' },
  { name: 'a have between the two lengths', body: bundle({ have: ['a'.repeat(41)] }), code: 'INVALID_HAVE' },
  { name: 'a have that is a number', body: bundle({ have: [7] }), code: 'INVALID_HAVE' },
  { name: 'have not a list', body: bundle({ have: 'a'.repeat(40) }), code: 'INVALID_HAVE', message: /at most 1000/ },
  { name: '1001 haves', body: bundle({ have: Array.from({ length: 1001 }, (_, i) => hex(i)) }), code: 'INVALID_HAVE', message: /at most 1000/ },
  { name: 'a ref with ".."', body: bundle({ refs: ['refs/heads/a..b'] }), code: 'INVALID_REF', message: /"refs\/heads\/a\.\.b"/ },
  { name: 'a ref ending in .lock', body: bundle({ refs: ['refs/heads/x.lock'] }), code: 'INVALID_REF' },
  { name: 'HEAD as a ref', body: bundle({ refs: ['HEAD'] }), code: 'INVALID_REF', message: /refs\/heads\/ or refs\/tags\// },
  { name: 'a remote-tracking ref', body: bundle({ refs: ['refs/remotes/x'] }), code: 'INVALID_REF' },
  { name: 'a short ref name', body: bundle({ refs: ['main'] }), code: 'INVALID_REF' },
  { name: 'a ref with a space', body: bundle({ refs: ['refs/heads/a b'] }), code: 'INVALID_REF' },
  { name: 'an empty refs list', body: bundle({ refs: [] }), code: 'INVALID_REF' },
  { name: 'refs not a list', body: bundle({ refs: 'refs/heads/main' }), code: 'INVALID_REF' },
  { name: 'a format other than bundle', body: bundle({ format: 'zip' }), code: 'INVALID_FORMAT' },
  { name: 'a ref with kind bundle', body: bundle({ ref: 'main' }), code: 'BAD_REQUEST', message: /`refs`/ },
  { name: 'have on an archive job', body: { url: 'BASIC', have: ['a'.repeat(40)] }, code: 'BAD_REQUEST', message: /bundle jobs/ },
  { name: 'refs on an archive job', body: { kind: 'archive', url: 'BASIC', refs: ['refs/heads/main'] }, code: 'BAD_REQUEST', message: /bundle jobs/ },
  { name: 'format bundle on an archive job', body: { url: 'BASIC', format: 'bundle' }, code: 'INVALID_FORMAT' },
];

describe('POST /jobs {kind: "bundle"}', () => {
  it.each(badJobs)('refuses $name with 400 $code, and queues nothing', async ({ body, code, message }) => {
    const { handler, dispatcher } = api();
    const response = await handler(postJob(JSON.parse(JSON.stringify(body).replace('"BASIC"', JSON.stringify(basic)))));
    expect(response.status).toBe(400);
    const answer = (await response.json()) as Record<string, unknown>;
    expect(Object.keys(answer).sort()).toEqual(['code', 'message', 'status']);
    expect(answer).toMatchObject({ code, status: 400 });
    if (message) expect(answer.message).toMatch(message);
    expect(dispatcher.specs).toEqual([]);
  });

  it('accepts 1000 haves of either length, mixed case, and queues them deduplicated in lower case', async () => {
    const { handler, dispatcher } = api();
    const have = [...Array.from({ length: 998 }, (_, i) => hex(i, 64)), 'A'.repeat(40), 'a'.repeat(40)];
    const response = await handler(postJob({ kind: 'bundle', url: basic, have }));
    expect(response.status).toBe(202);
    expect(dispatcher.specs[0]?.have).toHaveLength(999);
    expect(dispatcher.specs[0]?.have).toContain('a'.repeat(40));
  });

  it('queues a valid request with HEAD’s branch and commit, its refs sorted, and answers a repeat from the cache', async () => {
    const { handler, dispatcher, store, runner } = api();
    const head = await gitRevParse(join(root, 'fixtures/basic.git'), 'HEAD');
    const response = await handler(postJob({ kind: 'bundle', url: basic, refs: ['refs/tags/v1.0.0', 'refs/heads/main'] }));
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ kind: 'bundle', status: 'queued', ref: 'main', commit: head, format: 'bundle' });
    const spec = dispatcher.specs[0]!;
    expect(spec).toMatchObject({ kind: 'bundle', refs: ['refs/heads/main', 'refs/tags/v1.0.0'], format: 'bundle' });

    expect((await runner.run(spec, store)).state.status).toBe('done');
    const again = await handler(postJob({ kind: 'bundle', url: basic, refs: ['refs/heads/main', 'refs/tags/v1.0.0'] }));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: 'done', cached: true, format: 'bundle', parts: [expect.objectContaining({ size: expect.any(Number) })] });
    expect(dispatcher.specs).toHaveLength(1);
  });

  it('refuses a bundle of an empty repository with REF_NOT_FOUND', async () => {
    const response = await api().handler(postJob({ kind: 'bundle', url: `${server.url}/fixtures/empty` }));
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ code: 'REF_NOT_FOUND', message: expect.stringContaining('nothing to clone') });
  });
});

describe('GET /refs', () => {
  it('lists HEAD’s target, the branches and the tags, with the commit of annotated tags', async () => {
    const response = await api().handler(getRefs(`?url=${encodeURIComponent(basic)}`));
    expect(response.status).toBe(200);
    const answer = parseRefsAnswer((await response.json()) as Record<string, unknown>);
    const at = (rev: string): Promise<string> => gitRevParse(join(root, 'fixtures/basic.git'), rev);
    expect(answer).toEqual({
      repo: parseRepoUrl(basic, config).canonical,
      head: 'refs/heads/main',
      refs: [
        { name: 'refs/heads/feature/x', oid: await at('feature/x') },
        { name: 'refs/heads/main', oid: await at('main') },
        { name: 'refs/heads/release', oid: await at('release') },
        { name: 'refs/tags/v0.1', oid: await at('v0.1') },
        { name: 'refs/tags/v1.0.0', oid: await at('v1.0.0'), peeled: await at('v1.0.0^{commit}') },
      ],
    });
  });

  it('answers an empty repository with no head and no refs', async () => {
    const response = await api().handler(getRefs(`?url=${encodeURIComponent(`${server.url}/fixtures/empty`)}`));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ repo: parseRepoUrl(`${server.url}/fixtures/empty`, config).canonical, refs: [] });
  });

  it.each([
    { name: 'without url', query: '', status: 400, code: 'INVALID_URL' },
    { name: 'with an empty url', query: '?url=', status: 400, code: 'INVALID_URL' },
    { name: 'for a host not allowed', query: `?url=${encodeURIComponent('https://example.internal/o/r')}`, status: 403, code: 'HOST_NOT_ALLOWED' },
    { name: 'with credentials in the url', query: `?url=${encodeURIComponent('http://user:pw@example.internal/o/r')}`, status: 400, code: 'INVALID_URL' },
    { name: 'of a repository that does not exist', query: 'MISSING', status: 404, code: 'REPO_NOT_FOUND' },
  ])('answers $name with $status $code', async ({ query, status, code }) => {
    const q = query === 'MISSING' ? `?url=${encodeURIComponent(`${server.url}/fixtures/missing`)}` : query;
    const response = await api().handler(getRefs(q));
    expect(response.status).toBe(status);
    const answer = (await response.json()) as Record<string, unknown>;
    expect(answer).toMatchObject({ code, message: expect.any(String), status });
  });

  it('refuses POST', async () => {
    const response = await api().handler(new Request(`http://worker.test/refs?url=${encodeURIComponent(basic)}`, { method: 'POST' }));
    expect(response.status).toBe(405);
  });
});
