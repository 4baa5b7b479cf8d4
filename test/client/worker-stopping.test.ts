/**
 * `ferry get` when worker instances are reclaimed, as a child process against the real gateway
 * emulator in front of a scripted worker: the worker's side (which jobs say `retrying`) is tested in
 * test/worker/jobs/runner.test.ts; here, what the CLI does with each answer. The archive comes from a plain
 * HTTP server, as it would from OSS.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { startGateway, type Gateway } from '../../src/local/gateway/index.js';
import { createNotifier, type Notifier } from '../../src/worker/notify/notifier.js';
import { runFerry } from '../helpers/ferry-cli.js';

const app = { appKey: 'stopping-app', appSecret: 'stopping-secret' };
const ARCHIVE = Buffer.from('not really a zip, but its sha256 is checked all the same\n'.repeat(100));
const SHA256 = createHash('sha256').update(ARCHIVE).digest('hex');
const STOPPED_RETRYING = { code: 'WORKER_STOPPING', retrying: true, message: 'The worker instance running this job is shutting down and stopped it; Function Compute retries the job on another instance. If it does not finish, submit it again.' };
const STOPPED_FINAL = { code: 'WORKER_STOPPING', message: 'The worker instance running this job is shutting down and stopped it before it finished. Submit the job again.' };

type Answer = { status: number; headers?: Record<string, string>; body: Record<string, unknown> };

/** What the scripted worker does: its answers to POST /jobs in turn (the last one repeats), then the job's pushes. */
interface Script {
  submits: Answer[];
  /** Pushed in order once a job is accepted (202); `jobId` and `v` are added. */
  pushes: Record<string, unknown>[];
}

let gw: Gateway;
let files: Server;
let notifier: Notifier;
let work: string;
let script: Script;
let posts: number;
/** GET /jobs/:id: the flat state after the last push, as the worker stores it. */
let state: Record<string, unknown> = {};

function doneMessage(fileUrl: string): Record<string, unknown> {
  return {
    type: 'done', url: fileUrl, expiresAt: new Date(Date.now() + 3600_000).toISOString(), filename: 'basic-0123456.zip', size: ARCHIVE.length,
    sha256: SHA256, commit: '0123456789abcdef0123456789abcdef01234567', ref: 'main', format: 'zip', cached: false,
  };
}

function submitted(jobId: string): Answer {
  return { status: 202, body: { jobId, status: 'queued', repo: 'https://example.com/owner/basic', ref: 'main', commit: '0123456789abcdef0123456789abcdef01234567', format: 'zip' } };
}

const refused: Answer = {
  status: 503,
  headers: { 'retry-after': '1' },
  body: { code: 'WORKER_STOPPING', message: 'This worker instance is shutting down and takes no new jobs. Try again in a moment: another instance will take it.' },
};

async function push(deviceId: string, jobId: string): Promise<void> {
  for (const message of script.pushes) {
    const full: Record<string, unknown> = { v: 1, jobId, ts: Date.now(), ...message };
    const { type, v: _v, ts: _ts, ...rest } = full;
    state = { ...rest, status: type === 'progress' ? 'running' : type };
    notifier.send(deviceId, jobId, full, { important: true });
    await notifier.flush();
  }
}

async function invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}): ApiGatewayResult =>
    ({ isBase64Encoded: false, statusCode: status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  if (event.path === '/register') return answer(200, {});
  if (event.httpMethod === 'GET' && event.path.startsWith('/jobs/')) return answer(200, state);
  if (event.httpMethod === 'POST' && event.path === '/jobs') {
    const next = script.submits[Math.min(posts++, script.submits.length - 1)] as Answer;
    if (next.status === 202) {
      const { deviceId } = JSON.parse(event.body) as { deviceId: string };
      state = { ...next.body };
      // After the answer is on its way, as the worker's pushes come from the job, not the request.
      setImmediate(() => void push(deviceId, String(next.body.jobId)));
    }
    return answer(next.status, next.body, next.headers);
  }
  return answer(404, { code: 'NOT_FOUND', message: 'no such route' });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-stopping-'));
  files = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/zip', 'content-length': ARCHIVE.length }).end(ARCHIVE));
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  gw = await startGateway({
    apps: [app],
    apis: [
      { method: 'POST', path: '/jobs', auth: 'APP' },
      { method: 'GET', path: '/jobs/[id]', auth: 'APP' },
      { method: 'POST', path: '/register', auth: 'APP', type: 'REGISTER' },
      { method: 'POST', path: '/notify', auth: 'APP', type: 'NOTIFY' },
    ],
    backend: { invoke },
    log: () => undefined,
  });
  notifier = createNotifier({ url: `${gw.url}/notify`, ...app, minIntervalMs: 0, log: () => undefined });
});

afterAll(async () => {
  await gw?.close();
  await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
  await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  posts = 0;
  state = {};
});

const fileUrl = (): string => `http://127.0.0.1:${(files.address() as AddressInfo).port}/archive.zip`;
const get = (output: string, ...extra: string[]): ReturnType<typeof runFerry> =>
  runFerry(['get', 'https://example.com/owner/basic', '--gateway', gw.wsUrl, '--app-key', app.appKey, '--app-secret', app.appSecret, '-o', output, '--timeout', '60', ...extra]);

describe('ferry get when worker instances are reclaimed', () => {
  it('a WORKER_STOPPING error that says retrying is not the end: it follows the same job to done and saves the file', async () => {
    script = {
      submits: [submitted('job-retried-000000000001')],
      pushes: [
        { type: 'progress', phase: 'fetching', percent: 40 },
        { type: 'error', ...STOPPED_RETRYING },
        // FC delivered the job again to another instance, which runs it from the start.
        { type: 'progress', phase: 'queued', queuePosition: 0 },
        { type: 'progress', phase: 'resolving' },
        doneMessage(fileUrl()),
      ],
    };
    const output = join(work, 'retried.zip');
    const run = await get(output, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const types = run.events.map((e) => e.type);
    expect(types).not.toContain('error');
    expect(types).not.toContain('failed');
    expect(run.events.filter((e) => e.type === 'job-retry')).toEqual([{ type: 'job-retry', jobId: 'job-retried-000000000001', code: 'WORKER_STOPPING', message: STOPPED_RETRYING.message }]);
    expect(types.indexOf('job-retry')).toBeLessThan(types.indexOf('done'));
    expect(run.events.at(-1)).toMatchObject({ type: 'saved', path: output, sha256: SHA256 });
    expect(await readFile(output)).toEqual(ARCHIVE);
  });

  it('says so in the human view', async () => {
    script = { submits: [submitted('job-retried-000000000002')], pushes: [{ type: 'error', ...STOPPED_RETRYING }, doneMessage(fileUrl())] };
    const output = join(work, 'human.zip');
    const run = await get(output);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/worker instance stopped; waiting for the job to be retried/);
    expect(run.stdout.trim()).toBe(output);
  });

  it('a job whose worker died starts over: the new attempt is announced and followed to done', async () => {
    script = {
      submits: [submitted('job-resumed-0000000000001')],
      pushes: [
        { type: 'progress', phase: 'archiving', attempt: 1 },
        // The worker was killed; FC's retry runs the job on a new instance, from its first phase.
        { type: 'progress', phase: 'queued', attempt: 2, message: 'worker restarted, resuming' },
        { type: 'progress', phase: 'resolving', attempt: 2 },
        doneMessage(fileUrl()),
      ],
    };
    const json = await get(join(work, 'resumed.zip'), '--json');
    expect(json.code).toBe(0);
    const types = json.events.map((e) => e.type);
    expect(json.events.filter((e) => e.type === 'job-resumed')).toEqual([{ type: 'job-resumed', jobId: 'job-resumed-0000000000001', attempt: 2 }]);
    expect(types.indexOf('job-resumed')).toBeLessThan(types.indexOf('done'));
    const human = await get(join(work, 'resumed-human.zip'));
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/worker restarted, resuming \(attempt 2\)/);
  });

  it('WORKER_LOST is final: exit 1 with its message', async () => {
    const lost = { code: 'WORKER_LOST', message: 'The worker running this job was lost (Function Compute ran it 3 times): … Submit it again; if this repeats, report it with the job id.' };
    script = { submits: [submitted('job-lost-000000000000001')], pushes: [{ type: 'progress', phase: 'fetching' }, { type: 'error', ...lost }] };
    const run = await get(join(work, 'lost.zip'), '--json');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: WORKER_LOST: .*Submit it again/m);
    expect(run.events.at(-1)).toMatchObject({ type: 'failed', code: 'WORKER_LOST' });
  });

  it('a WORKER_STOPPING error without retrying is final: exit 1 with its message', async () => {
    script = { submits: [submitted('job-stopped-0000000000001')], pushes: [{ type: 'progress', phase: 'fetching' }, { type: 'error', ...STOPPED_FINAL }] };
    const run = await get(join(work, 'stopped.zip'), '--json');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: WORKER_STOPPING: .*Submit the job again/m);
    expect(run.events.some((e) => e.type === 'job-retry')).toBe(false);
    expect(run.events.at(-1)).toMatchObject({ type: 'failed', code: 'WORKER_STOPPING' });
  });

  it('POST /jobs refused with 503 WORKER_STOPPING is sent again after its Retry-After', async () => {
    script = { submits: [refused, submitted('job-resubmitted-000000001')], pushes: [doneMessage(fileUrl())] };
    const output = join(work, 'resubmitted.zip');
    const run = await get(output, '--json');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(posts).toBe(2);
    expect(run.events[0]).toMatchObject({ type: 'connecting', attempt: 1 });
    expect(run.events[1]).toEqual({ type: 'submit-retry', attempt: 2, delayMs: 1000, code: 'WORKER_STOPPING', message: refused.body.message });
    expect(run.events[2]).toMatchObject({ type: 'submitted', jobId: 'job-resubmitted-000000001' });
    expect(await readFile(output)).toEqual(ARCHIVE);
  });

  it('gives up after a few refusals: exit 1 with WORKER_STOPPING', async () => {
    script = { submits: [{ ...refused, headers: { 'retry-after': '0' } }], pushes: [] };
    const run = await get(join(work, 'refused.zip'), '--json');
    expect(run.code).toBe(1);
    expect(posts).toBe(4);
    expect(run.events.filter((e) => e.type === 'submit-retry').map((e) => e.attempt)).toEqual([2, 3, 4]);
    expect(run.stderr).toMatch(/^ferry: WORKER_STOPPING: .*shutting down/m);
  });
});
