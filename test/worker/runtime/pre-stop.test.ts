/**
 * FC's PreStop hook against the worker as FC runs it (./bootstrap), with the local OSS store behind a
 * proxy that slows part uploads (so a job can be caught mid-upload), a slowed git server, and a NOTIFY
 * endpoint that records what the device would be pushed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeJobEvent } from '../../../src/worker/jobs/job-event.js';
import { startOssServer, type OssServer } from '../../../src/local/oss/index.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { ossEnv } from '../../helpers/oss-env.js';
import { waitFor, waitForJob } from '../../helpers/wait.js';
import { startWorkerProcess, type WorkerProcess } from '../../helpers/worker-process.js';

const KEY = { accessKeyId: 'LTAI-pre-stop', accessKeySecret: 'pre-stop-secret' };
const DISPATCH_SECRET = 'pre-stop-dispatch-secret';
const DEVICE = 'device-pre-stop';
// Each part upload waits this long: a 10k-file archive in 128 KiB parts then takes seconds to upload.
const PART_DELAY_MS = 1500;

let git: GitServer;
let oss: OssServer;
let slowOss: Server;
let notify: Server;
let temp: string;
let root: string;
const pushes: { deviceId: string; message: Record<string, unknown> }[] = [];
const workers: WorkerProcess[] = [];
/** The workers' environment, settled once the servers listen. */
const env: Record<string, string> = {};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  root = await fixtureRoot();
  temp = await mkdtemp(join(tmpdir(), 'ferry-pre-stop-'));
  git = await startGitServer({ root, delayMs: 300 });
  oss = await startOssServer({ dataDir: join(temp, 'oss'), port: 0, credentials: [KEY], buckets: ['ferry'] });
  const target = new URL(oss.endpoint);
  // Forwards everything unchanged (the Host header too, which the SDK signed); part uploads are late.
  slowOss = createServer((req, res) => {
    const isPart = /[?&]partNumber=/.test(req.url ?? '');
    setTimeout(() => {
      const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    }, isPart ? PART_DELAY_MS : 0);
  });
  notify = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      pushes.push({ deviceId: String(req.headers['x-ca-deviceid']), message: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.end('{}');
    });
  });
  const slowEndpoint = await listen(slowOss);
  const notifyUrl = await listen(notify);
  Object.assign(env, {
    ...ossEnv(oss, KEY),
    FERRY_OSS_ENDPOINT: slowEndpoint,
    FERRY_WORK_DIR: join(temp, 'work'),
    FERRY_ALLOWED_HOSTS: git.host,
    FERRY_ALLOWED_DESTINATIONS: git.host,
    FERRY_ALLOW_HTTP: '1',
    FERRY_PART_SIZE: String(128 * 1024),
    FERRY_MAX_ARCHIVE_BYTES: String(512 * 1024 * 1024),
    FERRY_MAX_FILE_BYTES: String(512 * 1024 * 1024),
    FERRY_NOTIFY_URL: `${notifyUrl}/notify`,
    FERRY_APP_KEY: 'pre-stop-app',
    FERRY_APP_SECRET: 'pre-stop-app-secret',
    FERRY_DISPATCH_SECRET: DISPATCH_SECRET,
  });
});

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.close()));
  await new Promise((resolve) => slowOss?.close(resolve));
  await new Promise((resolve) => notify?.close(resolve));
  await oss?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

async function worker(graceSeconds: number): Promise<WorkerProcess> {
  const started = await startWorkerProcess({ ...env, FERRY_PRE_STOP_GRACE: String(graceSeconds) });
  workers.push(started);
  return started;
}

async function submit(base: string, name: string): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const response = await fetch(`${base}/jobs`, { method: 'POST', body: JSON.stringify({ url: `${git.url}/fixtures/${name}`, format: 'zip', deviceId: DEVICE }) });
  return { status: response.status, headers: response.headers, json: (await response.json()) as Record<string, unknown> };
}

async function state(base: string, jobId: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${base}/jobs/${jobId}`)).json()) as Record<string, unknown>;
}

async function preStop(base: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}/pre-stop`);
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

const uploads = (): Promise<string[]> => readdir(join(temp, 'oss', '.uploads')).catch(() => []);
const finalPush = (jobId: string) => pushes.find((push) => push.message.jobId === jobId && push.message.type !== 'progress');

describe('GET /pre-stop', () => {
  it('stops a job still running after the grace: WORKER_STOPPING stored and pushed, its multipart upload aborted', async () => {
    const base = (await worker(1)).url;
    const submitted = await submit(base, 'many');
    expect(submitted.status).toBe(202);
    const jobId = submitted.json.jobId as string;
    // Caught mid-upload: a multipart upload has been initiated and its parts are slow.
    await waitFor(async () => (await uploads()).length > 0, 60_000, 'a multipart upload');

    const answer = await preStop(base);
    expect(answer).toMatchObject({ status: 200, json: { ok: true, stopped: 1 } });
    expect(await state(base, jobId)).toMatchObject({ status: 'error', code: 'WORKER_STOPPING', message: expect.stringContaining('Submit the job again') });
    // Pushed before /pre-stop answered.
    expect(finalPush(jobId)).toEqual({ deviceId: DEVICE, message: expect.objectContaining({ type: 'error', code: 'WORKER_STOPPING' }) });
    await waitFor(async () => (await uploads()).length === 0, 20_000, 'the multipart upload to be aborted');
    expect(pushes.filter((push) => push.message.jobId === jobId && push.message.type !== 'progress')).toHaveLength(1);
  });

  it('lets a job that ends within the grace end done, then refuses new jobs with a retryable 503', async () => {
    const base = (await worker(60)).url;
    const submitted = await submit(base, 'basic');
    const jobId = submitted.json.jobId as string;
    await waitFor(async () => (await state(base, jobId)).status !== 'queued', 20_000, 'the job to start');

    expect((await preStop(base)).status).toBe(200);
    const done = await state(base, jobId);
    expect(done).toMatchObject({ status: 'done', commit: await gitRevParse(join(root, 'fixtures/basic.git'), 'main') });
    expect(finalPush(jobId)?.message).toMatchObject({ type: 'done' });

    const refused = await submit(base, 'basic');
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ code: 'WORKER_STOPPING' });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Reads go on: the job's state is still served.
    expect((await waitForJob(base, jobId)).status).toBe('done');
  });

  it('answers 200 with nothing running, twice, and then refuses job events so FC delivers them elsewhere', async () => {
    const base = (await worker(50)).url;
    expect(await preStop(base)).toEqual({ status: 200, json: { ok: true, finished: 0, stopped: 0 } });
    expect(await preStop(base)).toEqual({ status: 200, json: { ok: true, finished: 0, stopped: 0 } });

    const commit = await gitRevParse(join(root, 'fixtures/basic.git'), 'main');
    const spec = { jobId: 'job-after-pre-stop-0000', repo: `${git.url}/fixtures/basic`, ref: 'main', commit, format: 'zip' as const, createdAt: Date.now() };
    const response = await fetch(`${base}/invoke`, { method: 'POST', body: encodeJobEvent(spec, DISPATCH_SECRET) });
    expect(response.status).toBe(503);
    expect(response.headers.get('x-fc-status')).toBe('404');
    expect(await response.json()).toMatchObject({ code: 'WORKER_STOPPING' });
    expect((await submit(base, 'basic')).status).toBe(503);
  });
});
