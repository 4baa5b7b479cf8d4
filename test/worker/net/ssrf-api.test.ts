// The SSRF guard seen from the HTTP API: POST /jobs naming an internal destination is 403 DESTINATION_FORBIDDEN
// as JSON {code, message, status}, no job is made and no request reaches the server. The real submit path runs
// (ls-refs over node:http, the file check), with the guard's resolver injected as a hostile DNS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../../src/worker/api/handler.js';
import { loadConfig, type Config } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createFindJob, createSubmit } from '../../../src/worker/jobs/submit.js';
import type { Resolver } from '../../../src/worker/net/destinations.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { fixtureRoot } from '../../helpers/fixtures.js';
import { startFileUpstream, type FileUpstream } from '../../helpers/file-upstream.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { MemoryStore } from '../fakes.js';

let git: GitServer;
let files: FileUpstream;
let config: Config;
let gitPort: string;
let filePort: string;

beforeAll(async () => {
  git = await startGitServer({ root: await fixtureRoot() });
  files = await startFileUpstream({ hostname: 'localhost', address: '127.0.0.1' });
  files.serve('/tool.bin', { body: Buffer.from('internal') });
  gitPort = new URL(git.url).port;
  filePort = new URL(files.url('/')).port;
  // The hosts are allowed; their destinations are not (FERRY_ALLOWED_DESTINATIONS is empty).
  config = loadConfig({
    FERRY_ALLOWED_HOSTS: [`localhost:${gitPort}`, git.host, 'localhost'].join(','),
    FERRY_FILE_HOSTS: [`localhost:${filePort}`, `127.0.0.1:${filePort}`].join(','),
    FERRY_ALLOW_HTTP: '1',
  });
});

afterAll(async () => {
  await git?.close();
  await files?.close();
});

function api(resolve: Resolver) {
  const specs: JobSpec[] = [];
  const dispatcher: Dispatcher = { dispatch: async (spec) => void specs.push(spec) };
  const store = new MemoryStore();
  const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: config.allowedDestinations, resolve });
  const deps = { config, states: new JobStateStore(), dispatcher, notifier: undefined, storeFor: () => store, git: context, refs: new RefsCache({ git: context }) };
  const handler = createApi({
    submit: createSubmit(deps),
    findJob: createFindJob(deps),
    listRefs: (url) => deps.refs.get(parseRepoUrl(url ?? undefined, config)),
    load: () => ({ active: 0, pending: 0 }),
    log: () => undefined,
  });
  const post = (body: unknown): Promise<Response> =>
    handler(new Request('http://worker.test/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }));
  return { post, specs, handler };
}

const metadata: Resolver = async () => [{ address: '100.100.100.200', family: 4 }];

describe('POST /jobs and the SSRF guard', () => {
  it.each([
    ['a repository whose name resolves to the metadata service', () => ({ url: `http://localhost:${gitPort}/fixtures/basic` })],
    ['a repository at a loopback address', () => ({ url: `${git.url}/fixtures/basic` })],
    ['a repository at loopback spelled in decimal', () => ({ url: `http://2130706433:${gitPort}/fixtures/basic` })],
    ['a bundle of a repository whose name resolves to the metadata service', () => ({ kind: 'bundle', url: `http://localhost:${gitPort}/fixtures/basic` })],
    ['a full commit id of a repository at loopback', () => ({ url: `${git.url}/fixtures/basic`, ref: 'a'.repeat(40) })],
    ['a file whose name resolves to the metadata service', () => ({ kind: 'file', url: files.url('/tool.bin') })],
    ['a file at a loopback address', () => ({ kind: 'file', url: `http://127.0.0.1:${filePort}/tool.bin` })],
  ])('%s: 403 DESTINATION_FORBIDDEN, no job, no request', async (_name, body) => {
    const before = git.requests;
    const { post, specs } = api(metadata);
    const response = await post(body());
    expect(response.status).toBe(403);
    const answer = (await response.json()) as Record<string, unknown>;
    expect(answer).toEqual({ code: 'DESTINATION_FORBIDDEN', status: 403, message: expect.stringContaining('FERRY_ALLOWED_DESTINATIONS') });
    expect(answer.message).not.toContain('100.100.100.200');
    expect(specs).toEqual([]);
    expect(git.requests).toBe(before);
    expect(files.count('/tool.bin')).toBe(0);
  });

  it('GET /refs of such a repository is refused alike', async () => {
    const before = git.requests;
    const { handler } = api(metadata);
    const response = await handler(new Request(`http://worker.test/refs?url=${encodeURIComponent(`http://localhost:${gitPort}/fixtures/basic`)}`));
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe('DESTINATION_FORBIDDEN');
    expect(git.requests).toBe(before);
  });
});
