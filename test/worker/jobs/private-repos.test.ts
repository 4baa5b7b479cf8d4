import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { openAccess, requestAccess } from '../../../src/worker/git/access.js';
import { loadConfig } from '../../../src/worker/config.js';
import { decodeJobEvent, encodeJobEvent } from '../../../src/worker/jobs/job-event.js';
import { parseJobRequest } from '../../../src/worker/jobs/request.js';
import { createWorker, type Worker } from '../../../src/worker/worker.js';
import { testDestinations } from '../../helpers/destinations.js';
import { fixtureRoot } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ossEnv } from '../../helpers/oss-env.js';

// A private repository behind HTTP basic auth on the real git server (every repository of owner `fixtures`
// answers 401 without the token), fetched through the real worker API with the local OSS store. Every git
// command the worker runs goes through a `git` on PATH that records its argv, so the test sees what `ps` would.

const TOKEN = 'ghp_Pr1vateT0kenForTests0123456789abcdef';
const OTHER = 'ghp_AnotherTokenThatCannotRead000000000';
const SECRET = 'dispatch-secret-for-tests-0123456789abcdef';
const KEY = { accessKeyId: 'ak-test', accessKeySecret: 'sk-test-0123456789' };

let dir: string;
let oss: OssServer;
let server: GitServer;
let worker: Worker;
let repoUrl: string;
const logs: string[] = [];
const authorizations: string[] = [];
const originalPath = process.env.PATH;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-private-'));
  // A git that writes its argv to a file, then runs the real one.
  const bin = join(dir, 'bin');
  await import('node:fs/promises').then((fs) => fs.mkdir(bin));
  await writeFile(join(bin, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${join(dir, 'argv.log')}'\nexec /usr/bin/git "$@"\n`);
  await chmod(join(bin, 'git'), 0o755);
  process.env.PATH = `${bin}:${originalPath}`;
  oss = await startOssServer({ dataDir: join(dir, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  server = await startGitServer({ root: await fixtureRoot(), auth: { owner: 'fixtures', password: TOKEN }, onAuthorization: (value) => authorizations.push(value) });
  repoUrl = `${server.url}/fixtures/basic`;
  const config = loadConfig({
    ...ossEnv(oss, KEY),
    FERRY_WORK_DIR: join(dir, 'work'),
    FERRY_ALLOWED_HOSTS: server.host,
    FERRY_ALLOW_HTTP: '1',
    FERRY_ALLOWED_DESTINATIONS: testDestinations.join(','),
    FERRY_DISPATCH_SECRET: SECRET,
  });
  worker = createWorker(config, (line) => logs.push(line));
}, 60_000);

afterAll(async () => {
  process.env.PATH = originalPath;
  await server?.close();
  await oss?.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(path: string, init: { body?: unknown; token?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(init.token && { 'x-ferry-git-token': init.token }) };
  const request = new Request(`http://worker${path}`, init.body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(init.body) });
  const response = await worker.api(request);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function finished(jobId: string): Promise<Record<string, unknown>> {
  for (;;) {
    const { body } = await call(`/jobs/${jobId}`);
    if (body.status === 'done' || body.status === 'error') return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every file under `root`, read whole (the test's own small data dir). */
async function filesUnder(root: string): Promise<Array<{ path: string; bytes: Buffer }>> {
  const out: Array<{ path: string; bytes: Buffer }> = [];
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push({ path: join(entry.parentPath, entry.name), bytes: await readFile(join(entry.parentPath, entry.name)) });
  }
  return out;
}

describe('a private repository', () => {
  let archiveUrl: string;

  it('without a token is a 404 REPO_NOT_FOUND that says to send one', async () => {
    const { status, body } = await call('/jobs', { body: { url: repoUrl, format: 'zip' } });
    expect(status).toBe(404);
    expect(body).toMatchObject({ code: 'REPO_NOT_FOUND', message: expect.stringMatching(/x-ferry-git-token/) });
  });

  it('is fetched as an archive with the token in the header, under a short-lived URL', async () => {
    const submitted = await call('/jobs', { body: { url: repoUrl, format: 'zip' }, token: TOKEN });
    expect(submitted.status).toBe(202);
    const done = await finished(submitted.body.jobId as string);
    expect(done).toMatchObject({ status: 'done', format: 'zip' });
    archiveUrl = done.url as string;
    expect(archiveUrl).toContain('/archives/t-');
    const lifetime = Date.parse(done.expiresAt as string) - Date.now();
    expect(lifetime).toBeLessThanOrEqual(600_000);
    const download = await fetch(archiveUrl);
    expect(download.status).toBe(200);
    expect((await download.arrayBuffer()).byteLength).toBe(done.size);
  }, 60_000);

  it('is fetched as a bundle with the token in the body, and listed with it', async () => {
    const submitted = await call('/jobs', { body: { kind: 'bundle', url: repoUrl, token: TOKEN } });
    expect([200, 202]).toContain(submitted.status);
    const done = submitted.status === 200 ? submitted.body : await finished(submitted.body.jobId as string);
    expect(done).toMatchObject({ status: 'done', format: 'bundle' });
    expect(done.url as string).toContain('/bundles/t-');
    const refs = await call(`/refs?url=${encodeURIComponent(repoUrl)}`, { token: TOKEN });
    expect(refs.status).toBe(200);
    expect(refs.body.refs).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'refs/heads/main' })]));
    expect((await call(`/refs?url=${encodeURIComponent(repoUrl)}`)).status).toBe(404);
  }, 60_000);

  it('has its artifact answered from the cache to the same token only', async () => {
    const same = await call('/jobs', { body: { url: repoUrl, format: 'zip' }, token: TOKEN });
    expect(same).toMatchObject({ status: 200, body: { cached: true } });
    const none = await call('/jobs', { body: { url: repoUrl, format: 'zip' } });
    expect(none).toMatchObject({ status: 404, body: { code: 'REPO_NOT_FOUND' } });
    const other = await call('/jobs', { body: { url: repoUrl, format: 'zip' }, token: OTHER });
    expect(other).toMatchObject({ status: 404, body: { code: 'REPO_NOT_FOUND' } });
    // A full commit id is answered from the cache without asking upstream: the tokened artifact's key is not
    // the one an untokened request computes, so the request still goes upstream and is refused there.
    const byCommit = await call('/jobs', { body: { url: `${repoUrl}/commit/${same.body.commit as string}`, format: 'zip' } });
    expect(byCommit).toMatchObject({ status: 404, body: { code: 'REPO_NOT_FOUND' } });
  }, 60_000);

  it('leaves its token nowhere: not on disk (OSS objects, metadata, mirrors, job states), logs, job state or git argv', async () => {
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    for (const file of await filesUnder(dir)) {
      expect(file.bytes.includes(TOKEN), file.path).toBe(false);
      expect(file.bytes.includes(basic), file.path).toBe(false);
    }
    const argv = await readFile(join(dir, 'argv.log'), 'utf8');
    expect(argv).toMatch(/fetch|clone/);
    expect(argv).not.toContain(TOKEN);
    expect(argv).not.toContain(basic);
    expect(logs.join('\n')).not.toContain(TOKEN);
    // It did reach the git server, as basic auth.
    expect(authorizations).toContain(`Basic ${basic}`);
  });

  it('travels in a job event sealed, opened only with the same secret', () => {
    const access = requestAccess(TOKEN, null, SECRET);
    const spec: JobSpec = { jobId: 'job-12345678', kind: 'archive', repo: repoUrl, ref: 'main', commit: 'a'.repeat(40), format: 'zip', createdAt: 1, sealedToken: access?.seal(SECRET) as string };
    const event = encodeJobEvent(spec, SECRET);
    expect(event).not.toContain(TOKEN);
    const decoded = decodeJobEvent(JSON.parse(event), SECRET);
    expect(openAccess(decoded.sealedToken as string, SECRET).scope).toBe(access?.scope);
    expect(() => openAccess(decoded.sealedToken as string, 'another-secret')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    expect(JSON.stringify({ repo: { access } })).not.toContain(TOKEN);
  });
});

describe('a token', () => {
  const config = loadConfig({ FERRY_DISPATCH_SECRET: SECRET });
  it.each([
    ['', { token: '' }],
    ['a space', { token: 'ab cd' }],
    ['a newline', { token: 'ab\ncd' }],
    ['non-ASCII', { token: 'tökén' }],
    ['too long', { token: 'x'.repeat(1025) }],
    ['not a string', { token: 42 }],
  ])('that is %s is 400 INVALID_TOKEN', (_name, fields) => {
    expect(() => parseJobRequest({ url: 'https://github.com/o/r', ...fields }, config, null)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN', status: 400 }));
  });

  it('in the URL is refused, pointing at the token field', () => {
    expect(() => parseJobRequest({ url: 'https://user:tok@github.com/o/r' }, config, null)).toThrow(expect.objectContaining({ code: 'INVALID_URL', message: expect.stringMatching(/token.*x-ferry-git-token/) }));
  });

  it('is refused for a file job, when body and header differ, and by a worker without a dispatch secret', () => {
    expect(() => parseJobRequest({ kind: 'file', url: 'https://github.com/o/r/releases/download/v1/a.tgz', token: TOKEN }, config, null)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
    expect(() => parseJobRequest({ url: 'https://github.com/o/r', token: TOKEN }, config, null, OTHER)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
    expect(() => parseJobRequest({ url: 'https://github.com/o/r', token: TOKEN }, loadConfig({}), null)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN', message: expect.stringMatching(/FERRY_DISPATCH_SECRET/) }));
  });
});
