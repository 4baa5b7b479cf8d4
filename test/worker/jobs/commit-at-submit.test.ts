import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { fixtureRoot, git } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { MemoryStore } from '../fakes.js';

// A full commit id is checked upstream when it is submitted (docs/protocol.md: a wrong ref fails at once), against
// the real git server: a missing id is 404 REF_NOT_FOUND and makes no job; one that exists, tip or not, is built.

let server: GitServer;
let root: string;
let temp: string;
let config: Config;
let basic: string;
/** A commit of basic.git that no branch or tag points at (nor peels to). */
let inner: string;

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'ferry-commit-submit-'));
  // Every commit of basic.git is some ref's tip: a copy without tag v1.0.0 has one that is not (the tag's commit).
  root = join(temp, 'repos');
  const gitDir = join(root, 'fixtures/basic.git');
  await cp(join(await fixtureRoot(), 'fixtures/basic.git'), gitDir, { recursive: true });
  inner = (await git(['--git-dir', gitDir, 'rev-parse', 'v1.0.0^{commit}'])).trim();
  await git(['--git-dir', gitDir, 'tag', '-d', 'v1.0.0']);
  const tips = (await git(['--git-dir', gitDir, 'for-each-ref', '--format=%(objectname) %(*objectname)'])).split(/\s+/);
  expect(tips).not.toContain(inner);
  server = await startGitServer({ root });
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

/** The API over the real jobs layer; `processEnv` as the worker's process would have it. */
function api(processEnv: NodeJS.ProcessEnv = {}) {
  const store = new MemoryStore();
  const dispatcher = new RecordingDispatcher();
  const states = new JobStateStore();
  const gitContext = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: [server.host], processEnv: { ...process.env, ...processEnv } });
  const refs = new RefsCache({ git: gitContext });
  const deps = { config, states, dispatcher, notifier: undefined, storeFor: () => store, git: gitContext, refs };
  const handler = createApi({
    submit: createSubmit(deps),
    findJob: createFindJob(deps),
    listRefs: (url) => refs.get(parseRepoUrl(url ?? undefined, config)),
    load: () => ({ active: 0, pending: 0 }),
  });
  const runner = new JobRunner({ config, git: gitContext, mirrors: new MirrorCache({ workDir: config.workDir, git: gitContext }), refs, states });
  return { handler, dispatcher, store, runner };
}

const postJob = (body: unknown): Request =>
  new Request('http://worker.test/jobs', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

// In-process: one protocol v2 request. With a proxy set, node's requests are off and git itself checks
// (NO_PROXY keeps it off the made-up proxy, so the fixture server is reached directly).
const paths: Array<[string, NodeJS.ProcessEnv]> = [
  ['the in-process probe', {}],
  ['git, as behind a proxy', { HTTP_PROXY: 'http://127.0.0.1:9', NO_PROXY: '127.0.0.1' }],
];

describe.each(paths)('a full commit id at submit, checked by %s', (_name, processEnv) => {
  it('refuses an id the repository does not have with 404 REF_NOT_FOUND, and makes no job', async () => {
    const { handler, dispatcher, store } = api(processEnv);
    const missing = '1234567'.padEnd(40, '0');
    const response = await handler(postJob({ url: basic, ref: missing }));
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ code: 'REF_NOT_FOUND', status: 404, message: expect.stringContaining(`Commit ${missing} does not exist in`) });
    expect(dispatcher.specs).toEqual([]);
    expect(store.objects.size).toBe(0);
  });

  it('queues a commit that is no ref’s tip, and the job builds it', async () => {
    const { handler, dispatcher, store, runner } = api(processEnv);
    const response = await handler(postJob({ url: basic, ref: inner, format: 'tar.gz' }));
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ status: 'queued', ref: inner, commit: inner, format: 'tar.gz' });
    const spec = dispatcher.specs[0]!;
    expect((await runner.run(spec, store)).state).toMatchObject({ status: 'done', commit: inner });
  });
});

describe('a full commit id at submit', () => {
  it('refuses a 64-digit id on a SHA-1 repository as not found', async () => {
    const { handler, dispatcher } = api();
    const response = await handler(postJob({ url: basic, ref: 'ab'.repeat(32) }));
    expect(await response.json()).toMatchObject({ code: 'REF_NOT_FOUND', status: 404 });
    expect(dispatcher.specs).toEqual([]);
  });

  it('answers a cached artifact of the commit without asking upstream', async () => {
    const { handler, dispatcher, store, runner } = api();
    await handler(postJob({ url: basic, ref: inner }));
    await runner.run(dispatcher.specs[0]!, store);
    const before = server.requests;
    const again = await handler(postJob({ url: basic, ref: inner }));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: 'done', cached: true, commit: inner });
    expect(server.requests).toBe(before);
  });
});
