import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { archiveFiles, byPath } from '../helpers/archive-files.js';
import { fixtureRoot, gitArchiveFiles, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { ossEnv } from '../helpers/oss-env.js';
import { waitFor, waitForJob } from '../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../helpers/worker-process.js';

// The worker as FC runs it (./bootstrap, HTTP-trigger mode, in-process queue), against the real
// OSS-compatible store and a real git smart-HTTP server.
const KEY = { accessKeyId: 'LTAI-e2e', accessKeySecret: 'e2e-secret' };
const BUCKET = 'ferry';

let git: GitServer;
let oss: OssServer;
let worker: WorkerProcess;
let root: string;
let temp: string;
let workDir: string;
let ossDir: string;

function workerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...ossEnv(oss, KEY, BUCKET),
    FERRY_WORK_DIR: workDir,
    // 127.0.0.1:9 (discard) is allowed but closed: the unreachable-host case.
    FERRY_ALLOWED_HOSTS: `github.com,${git.host},127.0.0.1:9`,
    FERRY_ALLOWED_DESTINATIONS: `${git.host},127.0.0.1:9`,
    FERRY_ALLOW_HTTP: '1',
    // Small parts so the 10k-file repository goes through real multipart upload (10,000 of them hold
    // ~1.2 GiB, so the archive limit comes down with them: the worker refuses a pairing OSS could not take).
    FERRY_PART_SIZE: String(128 * 1024),
    FERRY_MAX_ARCHIVE_BYTES: String(512 * 1024 * 1024),
    FERRY_MAX_FILE_BYTES: String(512 * 1024 * 1024),
    ...extra,
  };
}

const repoUrl = (name: string): string => `${git.url}/fixtures/${name}`;

async function post(base: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}/jobs`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function download(url: string): Promise<{ file: string; bytes: Buffer; disposition: string | null }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const bytes = Buffer.from(await response.arrayBuffer());
  const file = join(temp, `dl-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  await writeFile(file, bytes);
  return { file, bytes, disposition: response.headers.get('content-disposition') };
}

function ossClient(server: OssServer = oss): OSS {
  return new OSS({ endpoint: server.endpoint, region: server.region, bucket: BUCKET, ...KEY, authorizationV4: true });
}

/** A worker with its own work dir and its own store: no other test's mirrors, archives or jobs. */
async function startOwnWorker(name: string, extra: Record<string, string> = {}) {
  const ownDir = join(temp, `oss-${name}`);
  const ownWorkDir = join(temp, `work-${name}`);
  const ownOss = await startOssServer({ dataDir: ownDir, port: 0, credentials: [KEY], buckets: [BUCKET] });
  const ownWorker = await startWorkerProcess({ ...workerEnv({ ...extra, FERRY_WORK_DIR: ownWorkDir }), ...ossEnv(ownOss, KEY, BUCKET) }).catch(async (error: unknown) => {
    await ownOss.close();
    throw error;
  });
  return {
    worker: ownWorker,
    oss: ownOss,
    ossDir: ownDir,
    workDir: ownWorkDir,
    close: async () => {
      await ownWorker.close();
      await ownOss.close();
    },
  };
}

beforeAll(async () => {
  root = await fixtureRoot();
  temp = await mkdtemp(join(tmpdir(), 'ferry-e2e-'));
  workDir = join(temp, 'work');
  ossDir = join(temp, 'oss');
  git = await startGitServer({ root });
  oss = await startOssServer({ dataDir: ossDir, port: 0, credentials: [KEY], buckets: [BUCKET] });
  worker = await startWorkerProcess(workerEnv());
});

afterAll(async () => {
  await worker?.close();
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('POST /jobs → done → signed URL → the repository\'s exact files', () => {
  it.each([
    ['zip', 'basic', undefined, 'main', 'main'],
    ['tar.gz', 'basic', 'v1.0.0', 'v1.0.0^{commit}', 'v1.0.0'],
    ['zip', 'basic', 'feature/x', 'feature/x', 'feature/x'],
    ['tar.gz', 'basic', 'v0.1', 'v0.1^{commit}', 'v0.1'],
    ['zip', 'many', undefined, 'main', 'main'],
  ] as const)('%s of %s at %s', async (format, name, ref, rev, expectedRef) => {
    const commit = await gitRevParse(join(root, `fixtures/${name}.git`), rev);
    const submitted = await post(worker.url, { url: repoUrl(name), format, ...(ref && { ref }) });
    expect(submitted.status).toBe(202);
    expect(submitted.json).toMatchObject({ status: 'queued', commit, ref: expectedRef, format });

    const done = await waitForJob(worker.url, submitted.json.jobId as string);
    const filename = `${name}-${commit.slice(0, 7)}.${format}`;
    expect(done).toMatchObject({ status: 'done', commit, ref: expectedRef, format, filename, cached: false });
    expect(Date.parse(done.expiresAt as string)).toBeGreaterThan(Date.now() + 3500_000);

    const { file, bytes, disposition } = await download(done.url as string);
    expect(bytes.length).toBe(done.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.sha256);
    expect(disposition).toContain(filename);
    const expected = await gitArchiveFiles(join(root, `fixtures/${name}.git`), commit);
    expect(await archiveFiles(file, format, filename.slice(0, -(format.length + 1)))).toEqual([...expected].sort(byPath));
  });

  it('resolves a full commit id and names the ref after it', async () => {
    const commit = await gitRevParse(join(root, 'fixtures/basic.git'), 'release');
    const submitted = await post(worker.url, { url: repoUrl('basic'), ref: commit, format: 'tar.gz' });
    expect(submitted.status).toBe(202);
    const done = await waitForJob(worker.url, submitted.json.jobId as string);
    expect(done).toMatchObject({ status: 'done', commit, ref: commit });
  });

  it('answers 200 from the cache for the same commit, whatever the URL spelling', async () => {
    const first = await post(worker.url, { url: repoUrl('basic'), ref: 'release', format: 'zip' });
    const done = await waitForJob(worker.url, first.json.jobId as string);
    const host = git.host;
    for (const spelling of [`http://${host}/fixtures/basic.git`, `http://${host}/fixtures/basic/`, `http://${host.toUpperCase()}/fixtures/basic.git/`]) {
      const again = await post(worker.url, { url: spelling, ref: 'release', format: 'zip' });
      expect(again.status).toBe(200);
      expect(again.json).toMatchObject({ status: 'done', cached: true, sha256: done.sha256, size: done.size, commit: done.commit });
      // The cached job is a job too: GET /jobs/:id knows it.
      const state = (await (await fetch(`${worker.url}/jobs/${again.json.jobId as string}`)).json()) as Record<string, unknown>;
      expect(state).toMatchObject({ status: 'done', cached: true });
    }
  });

  it('fetches a second commit of a repository into the same bare mirror, with no work tree', async () => {
    // A worker and a store of its own: two builds of basic at two commits, whatever ran before.
    const own = await startOwnWorker('mirror');
    try {
      for (const ref of ['main', 'v1.0.0']) {
        const submitted = await post(own.worker.url, { url: repoUrl('basic'), ref, format: 'zip' });
        expect(submitted.status).toBe(202);
        expect(await waitForJob(own.worker.url, submitted.json.jobId as string)).toMatchObject({ status: 'done', cached: false });
      }
      const mirrors = await readdir(join(own.workDir, 'mirrors'));
      const basic = mirrors.filter((m) => m.startsWith('basic-'));
      expect(basic).toHaveLength(1);
      const entries = await readdir(join(own.workDir, 'mirrors', basic[0] as string));
      expect(entries).toContain('objects');
      expect(entries).toContain('shallow');
      expect(entries).not.toContain('.git');
      expect(entries.filter((e) => !['HEAD', 'config', 'description', 'hooks', 'info', 'objects', 'refs', 'shallow', 'packed-refs', 'FETCH_HEAD', 'branches'].includes(e))).toEqual([]);
      // Nothing temporary is left next to the mirrors.
      expect(mirrors.filter((m) => m.includes('.tmp-'))).toEqual([]);
    } finally {
      await own.close();
    }
  });

  it('reports a running job with its phase while it works, and stores the state in OSS', async () => {
    const submitted = await post(worker.url, { url: repoUrl('many'), format: 'tar.gz' });
    const jobId = submitted.json.jobId as string;
    // Every poll's status and phase, in order: the job must be seen at work before it is done.
    const seen: string[] = [];
    const done = await waitFor(
      async () => {
        const state = (await (await fetch(`${worker.url}/jobs/${jobId}`)).json()) as Record<string, unknown>;
        seen.push(state.phase === undefined ? String(state.status) : `${String(state.status)}/${String(state.phase)}`);
        return state.status === 'done' || state.status === 'error' ? state : undefined;
      },
      60_000,
      `job ${jobId}`,
      20,
    );
    expect(done.status, seen.join(' ')).toBe('done');
    expect(seen.at(-1)).toMatch(/^done/);
    expect(seen.slice(0, -1).some((poll) => /^running\/(resolving|fetching|archiving|uploading|signing)$/.test(poll)), seen.join(' ')).toBe(true);
    // The log line says how long each phase took, for operators.
    const line = await waitFor(async () => worker.output.find((l) => l.startsWith(`job ${jobId} done`)), 5000, 'the job log line');
    expect(line).toMatch(/ queued=\d+ms resolving=\d+ms fetching=\d+ms archiving=\d+ms uploading=\d+ms signing=\d+ms$/);
    // The instance answers from memory first; the OSS copy for other instances follows within moments.
    const stored = await waitFor(async () => {
      const state = JSON.parse((await ossClient().get(`jobs/${jobId}.json`)).content.toString()) as Record<string, unknown>;
      return state.status === 'done' ? state : undefined;
    }, 10_000, 'the stored state');
    expect(stored).toMatchObject({ jobId, status: 'done', result: { sha256: done.sha256 } });
  });
});

describe('bad input gets a clear error and loses nothing', () => {
  it.each([
    ['invalid JSON', '{"url":', 400, 'INVALID_JSON'],
    ['an empty body', '', 400, 'INVALID_JSON'],
    ['a JSON array', '[]', 400, 'BAD_REQUEST'],
    ['a missing url', {}, 400, 'INVALID_URL'],
    ['a malformed url', { url: 'not a url at all' }, 400, 'INVALID_URL'],
    ['an option-like url', { url: '--upload-pack=touch /tmp/x' }, 400, 'INVALID_URL'],
    ['an unknown format', { url: 'https://github.com/a/b', format: 'rar' }, 400, 'INVALID_FORMAT'],
    ['an unknown field', { url: 'https://github.com/a/b', branch: 'main' }, 400, 'BAD_REQUEST'],
    ['an option-like ref', { url: 'https://github.com/a/b', ref: '--output=/etc/passwd' }, 400, 'INVALID_REF'],
    ['a bad device id', { url: 'https://github.com/a/b', deviceId: 'a b' }, 400, 'INVALID_DEVICE_ID'],
    ['a host that is not allowed', { url: 'https://evil.example/a/b' }, 403, 'HOST_NOT_ALLOWED'],
    ['an internal address', { url: 'http://169.254.169.254/latest' }, 403, 'HOST_NOT_ALLOWED'],
  ])('%s → %i %s', async (_what, body, status, code) => {
    const response = await post(worker.url, body);
    expect(response.status).toBe(status);
    expect(response.json.code).toBe(code);
    expect(typeof response.json.message).toBe('string');
    expect((response.json.message as string).length).toBeGreaterThan(10);
  });

  it('an unknown ref → 404 REF_NOT_FOUND, naming the ref', async () => {
    const response = await post(worker.url, { url: repoUrl('basic'), ref: 'no-such-branch' });
    expect(response).toMatchObject({ status: 404, json: { code: 'REF_NOT_FOUND' } });
    expect(response.json.message).toContain('no-such-branch');
  });

  it('an unknown commit id → 404 REF_NOT_FOUND at once, naming the id', async () => {
    const response = await post(worker.url, { url: repoUrl('basic'), ref: 'f'.repeat(40) });
    expect(response).toMatchObject({ status: 404, json: { code: 'REF_NOT_FOUND' } });
    expect(response.json.message).toContain('f'.repeat(40));
  });

  it('a repository that does not exist → 404 REPO_NOT_FOUND', async () => {
    expect(await post(worker.url, { url: repoUrl('nope') })).toMatchObject({ status: 404, json: { code: 'REPO_NOT_FOUND' } });
  });

  it('an empty repository → 404 REF_NOT_FOUND saying there is nothing yet', async () => {
    const response = await post(worker.url, { url: repoUrl('empty') });
    expect(response).toMatchObject({ status: 404, json: { code: 'REF_NOT_FOUND' } });
    expect(response.json.message).toMatch(/no commits/);
  });

  it('an unreachable host → 502 UPSTREAM_UNREACHABLE', async () => {
    expect(await post(worker.url, { url: 'http://127.0.0.1:9/fixtures/basic' })).toMatchObject({ status: 502, json: { code: 'UPSTREAM_UNREACHABLE' } });
  });

  it('unknown jobs, routes and methods', async () => {
    expect((await fetch(`${worker.url}/jobs/abcdefghijklmnopqrstu`)).status).toBe(404);
    expect(((await (await fetch(`${worker.url}/jobs/..%2F..%2Fetc`)).json()) as { code: string }).code).toBe('JOB_NOT_FOUND');
    expect((await fetch(`${worker.url}/nope`)).status).toBe(404);
    expect((await fetch(`${worker.url}/jobs`)).status).toBe(405);
    expect((await post(worker.url, 'x'.repeat(200_000))).json.code).toBe('PAYLOAD_TOO_LARGE');
    // Chunked, with no content-length to refuse it by: reading stops at the limit.
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 160; i++) controller.enqueue(new Uint8Array(1024).fill(32));
        controller.close();
      },
    });
    const response = await fetch(`${worker.url}/jobs`, { method: 'POST', body: chunked, duplex: 'half' } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { code: string }).code).toBe('PAYLOAD_TOO_LARGE');
  });

  it.each([
    ['refuses our key', () => ({ FERRY_OSS_ACCESS_KEY_SECRET: 'wrong-secret' }), 502, 'STORAGE_FAILED', /storage failed .*SignatureDoesNotMatch/],
    ['is not reachable', () => ({ FERRY_OSS_ENDPOINT: 'http://127.0.0.1:9', FERRY_OSS_PUBLIC_ENDPOINT: 'http://127.0.0.1:9' }), 503, 'STORAGE_UNAVAILABLE', /storage is unavailable/],
  ])('object storage that %s: STORAGE_FAILED (refused) or STORAGE_UNAVAILABLE (no answer), naming what failed', async (_what, env, status, code, message) => {
    const broken = await startWorkerProcess(workerEnv({ ...env(), FERRY_WORK_DIR: join(temp, 'work-broken') }));
    try {
      const response = await post(broken.url, { url: repoUrl('basic') });
      expect(response).toMatchObject({ status, json: { code } });
      expect(response.json.message).toMatch(message);
      expect((await fetch(`${broken.url}/healthz`)).status).toBe(200);
    } finally {
      await broken.close();
    }
  });

  it('keeps serving after bad input', async () => {
    for (const body of ['{"url":', '[]', { url: '--upload-pack=touch /tmp/x' }, { url: 'http://169.254.169.254/latest' }, 'x'.repeat(20_000)]) {
      expect((await post(worker.url, body)).status).toBeGreaterThanOrEqual(400);
    }
    const health = (await (await fetch(`${worker.url}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, active: 0, pending: 0 });
    expect(worker.child.exitCode).toBeNull();
  });

  it('an archive over the size limit fails TOO_LARGE and leaves no object and no parts behind', async () => {
    // A store of its own, so no other test's archive can answer from the cache.
    const own = await startOwnWorker('small', { FERRY_MAX_ARCHIVE_BYTES: String(300 * 1024) });
    const small = own.worker;
    const ownDir = own.ossDir;
    try {
      const response = await post(small.url, { url: repoUrl('many'), format: 'zip' });
      expect(response.status).toBe(202);
      const state = await waitForJob(small.url, response.json.jobId as string).catch((error: Error) => {
        throw new Error(`${error.message}\n${small.output.join('\n')}`);
      });
      expect(state, small.output.join('\n')).toMatchObject({ status: 'error', code: 'TOO_LARGE' });
      expect(state.message).toMatch(/larger than this service's limit of 300 KiB/);
      const client = ossClient(own.oss);
      const listed = await client.list({ prefix: 'archives/', 'max-keys': 1000 }, {});
      expect(listed.objects ?? []).toEqual([]);
      expect(await readdir(join(ownDir, '.uploads'))).toEqual([]);
      // The failure is recorded for clients that come back later.
      const stored = JSON.parse((await client.get(`jobs/${response.json.jobId as string}.json`)).content.toString()) as Record<string, unknown>;
      expect(stored).toMatchObject({ status: 'error', error: { code: 'TOO_LARGE' } });
    } finally {
      await own.close();
    }
  });
});

describe('the FC contract', () => {
  it('POST /initialize answers 200 and /invoke serves API-gateway events', async () => {
    expect((await fetch(`${worker.url}/initialize`, { method: 'POST' })).status).toBe(200);
    const event = { path: '/healthz', httpMethod: 'GET', headers: {}, queryParameters: {}, pathParameters: {}, body: '', isBase64Encoded: false };
    const response = await fetch(`${worker.url}/invoke`, { method: 'POST', body: JSON.stringify(event), headers: { 'x-fc-request-id': 'req-123' } });
    const result = (await response.json()) as { statusCode: number; body: string };
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body)).toMatchObject({ ok: true });
    // The End line is written once the response has gone out; the output comes on a pipe, so
    // even the Start line may be read after the response.
    await waitFor(() => worker.output.includes('FC Invoke End RequestId: req-123'), 5000, 'the End line');
    expect(worker.output.filter((line) => line.startsWith('FC Invoke ') && line.endsWith(' RequestId: req-123'))).toEqual([
      'FC Invoke Start RequestId: req-123',
      'FC Invoke End RequestId: req-123',
    ]);
  });

  it('refuses job events that are not signed with the dispatch secret', async () => {
    const forged = { type: 'job', spec: JSON.stringify({ jobId: 'x'.repeat(21), repo: repoUrl('basic'), ref: 'main', commit: 'a'.repeat(40), format: 'zip' }), signature: 'nope' };
    const response = await fetch(`${worker.url}/invoke`, { method: 'POST', body: JSON.stringify(forged) });
    expect(response.status).toBe(401);
  });

  it('an unknown event → 400', async () => {
    const response = await fetch(`${worker.url}/invoke`, { method: 'POST', body: '{"hello":1}' });
    expect(response.status).toBe(400);
  });

  it('strips FC 2.0\'s x-fc-base-path prefix from HTTP-trigger paths', async () => {
    const response = await fetch(`${worker.url}/2016-08-15/proxy/ferry/worker/healthz`, { headers: { 'x-fc-base-path': '/2016-08-15/proxy/ferry/worker' } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ ok: true });
  });

  it('with FERRY_HTTP_API=0 serves only /invoke and /healthz on trigger paths', async () => {
    const locked = await startWorkerProcess(workerEnv({ FERRY_HTTP_API: '0', FERRY_WORK_DIR: join(temp, 'work-locked') }));
    try {
      expect((await fetch(`${locked.url}/healthz`)).status).toBe(200);
      expect(await post(locked.url, { url: repoUrl('basic') })).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
      const event = { path: '/jobs/abcdefghijklmnopqrstu', httpMethod: 'GET', headers: {}, queryParameters: {}, pathParameters: {}, body: '', isBase64Encoded: false };
      const result = (await (await fetch(`${locked.url}/invoke`, { method: 'POST', body: JSON.stringify(event) })).json()) as { statusCode: number };
      expect(result.statusCode).toBe(404);
    } finally {
      await locked.close();
    }
  });

  it('starts with no configuration at all: /healthz answers, jobs get 503 STORAGE_NOT_CONFIGURED', async () => {
    const bare = await startWorkerProcess({});
    try {
      expect((await fetch(`${bare.url}/healthz`)).status).toBe(200);
      expect(await post(bare.url, { url: 'https://github.com/expressjs/express' })).toMatchObject({ status: 503, json: { code: 'STORAGE_NOT_CONFIGURED' } });
    } finally {
      await bare.close();
    }
  });
});
