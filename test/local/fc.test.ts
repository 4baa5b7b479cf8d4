import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFcEmulator, type FcEmulator, type FcEmulatorOptions } from '../../src/local/fc/index.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT } from '../helpers/worker-process.js';

// The emulator's job is to start *any* custom runtime the way FC does, so these tests drive a tiny
// fake runtime (test/fixtures/fake-runtime) that records every request it gets. One test at the
// end starts ferry's real ./bootstrap when it has been built.
const fixtures = join(ROOT, 'test/fixtures/fake-runtime');
const bootstrap = join(fixtures, 'bootstrap');

const credentials = { accessKeyId: 'STS.test-key', accessKeySecret: 'test-secret', securityToken: 'test-token' };

interface CallRecord {
  pid: number;
  ts: number;
  kind: 'start' | 'end';
  method?: string;
  url: string;
  route: string;
  headers: Record<string, string>;
  body: string;
}

interface Echo {
  pid: number;
  method: string;
  url: string;
  body: string;
  bodyBase64: string;
  headers: Record<string, string>;
  env: Record<string, string>;
}

const tmp = mkdtempSync(join(tmpdir(), 'ferry-fc-'));
let fileCounter = 0;
const open: FcEmulator[] = [];

beforeAll(() => {
  // Git may lose the exec bits; FC (and the emulator) spawn bootstrap directly, so they matter.
  for (const name of ['bootstrap', 'bootstrap-noexec', 'bootstrap-fail']) chmodSync(join(fixtures, name), 0o755);
});
afterAll(async () => {
  await Promise.all(open.map((emulator) => emulator.close()));
  rmSync(tmp, { recursive: true, force: true });
});

async function start(opts: Partial<FcEmulatorOptions> = {}, env: Record<string, string> = {}) {
  const recordFile = join(tmp, `calls-${++fileCounter}.jsonl`);
  const lines: string[] = [];
  const emulator = await startFcEmulator({
    bootstrap,
    accountId: '1234567890123456',
    credentials,
    log: (line) => lines.push(line),
    ...opts,
    env: { FAKE_RECORD_FILE: recordFile, FAKE_EXTRA: 'extra-value', ...env },
  });
  open.push(emulator);
  const records = (): CallRecord[] =>
    existsSync(recordFile)
      ? readFileSync(recordFile, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as CallRecord)
      : [];
  return { emulator, records, lines };
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  // An orphaned grandchild may linger as a zombie if PID 1 does not reap it; a zombie runs nothing.
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? false;
  } catch {
    return true;
  }
}

function unexpected(started: { emulator: FcEmulator }): never {
  throw new Error(`expected the emulator to fail to start, but it serves ${started.emulator.url}`);
}

const starts = (records: CallRecord[], url: string) => records.filter((r) => r.kind === 'start' && r.url === url);

describe('FC emulator with a fake runtime', () => {
  let emulator: FcEmulator;
  let records: () => CallRecord[];

  beforeAll(async () => {
    ({ emulator, records } = await start());
  });

  it('starts bootstrap with FC environment and initializes it once', async () => {
    const first = await emulator.invoke('{"n":1}');
    await emulator.invoke('{"n":2}');
    await fetch(`${emulator.url}/anything`);
    const echo = JSON.parse(first.body.toString()) as Echo;
    expect(echo.env).toMatchObject({
      FC_FUNCTION_NAME: 'ferry',
      FC_REGION: 'cn-hongkong',
      FC_ACCOUNT_ID: '1234567890123456',
      ALIBABA_CLOUD_ACCESS_KEY_ID: credentials.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: credentials.accessKeySecret,
      ALIBABA_CLOUD_SECURITY_TOKEN: credentials.securityToken,
      FAKE_EXTRA: 'extra-value',
    });
    expect(echo.env.FC_SERVER_PORT).toMatch(/^\d+$/);
    expect(echo.env.FC_CUSTOM_LISTEN_PORT).toBe(echo.env.FC_SERVER_PORT);
    expect(echo.env.FC_INSTANCE_ID).toBeTruthy();
    expect(echo.pid).toBe(emulator.runtimePid());

    const inits = starts(records(), '/initialize');
    expect(inits).toHaveLength(1);
    expect(inits[0]?.method).toBe('POST');
    expect(inits[0]?.headers['x-fc-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(inits[0]?.headers['x-fc-access-key-id']).toBe(credentials.accessKeyId);
    // /initialize comes before every invocation.
    expect(records()[0]?.url).toBe('/initialize');
  });

  it('gives an env function its own front addresses, for a runtime that invokes itself', async () => {
    const seen: { url: string; invokeUrl: string }[] = [];
    const recordFile = join(tmp, `calls-front-${++fileCounter}.jsonl`);
    const self = await startFcEmulator({
      bootstrap,
      credentials,
      env: (front) => {
        seen.push(front);
        return { FAKE_RECORD_FILE: recordFile, FAKE_EXTRA: front.invokeUrl };
      },
    });
    open.push(self);
    expect(seen).toEqual([{ url: self.url, invokeUrl: self.invokeUrl }]);
    const echo = JSON.parse((await self.invoke('{}')).body.toString()) as Echo;
    expect(echo.env.FAKE_EXTRA).toBe(self.invokeUrl);
  });

  it('forwards a sync invocation as POST /invoke with every x-fc header and returns the answer', async () => {
    const event = JSON.stringify({ hello: 'world' });
    const res = await emulator.invoke(event);
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body.toString()) as Echo;
    expect(echo.method).toBe('POST');
    expect(echo.url).toBe('/invoke');
    expect(echo.body).toBe(event);
    expect(echo.headers).toMatchObject({
      'content-type': 'application/octet-stream',
      'x-fc-access-key-id': credentials.accessKeyId,
      'x-fc-access-key-secret': credentials.accessKeySecret,
      'x-fc-security-token': credentials.securityToken,
      'x-fc-function-name': 'ferry',
      'x-fc-region': 'cn-hongkong',
      'x-fc-account-id': '1234567890123456',
      'x-fc-function-handler': expect.any(String),
      'x-fc-function-memory': expect.stringMatching(/^\d+$/),
      'x-fc-function-timeout': expect.stringMatching(/^\d+$/),
    });
    expect(echo.headers['x-fc-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    // FC reports the request id to the caller too, and the runtime's own headers come back.
    expect(res.headers['x-fc-request-id']).toBe(echo.headers['x-fc-request-id']);
    expect(res.headers['x-fake-pid']).toBe(String(echo.pid));
  });

  it('passes bytes through unchanged and the runtime status back', async () => {
    const bytes = Uint8Array.from([0, 1, 2, 250, 255]);
    const echoed = JSON.parse((await emulator.invoke(bytes)).body.toString()) as Echo;
    expect(Buffer.from(echoed.bodyBase64, 'base64').equals(bytes)).toBe(true);
    const res = await emulator.invoke('{"path":"/status/418"}');
    expect(res.status).toBe(418);
  });

  it('uses a fresh request id for every invocation', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await emulator.invoke(`{"i":${i}}`);
      ids.add((JSON.parse(res.body.toString()) as Echo).headers['x-fc-request-id'] ?? '');
    }
    ids.add(starts(records(), '/initialize')[0]?.headers['x-fc-request-id'] ?? '');
    expect(ids.size).toBe(4);
  });

  it('answers 404 in FC shape for another function name', async () => {
    const res = await fetch(`${emulator.url}/2023-03-30/functions/other/invocations`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ Code: 'FunctionNotFound', RequestId: expect.any(String) });
    expect(emulator.invokeUrl).toBe(`${emulator.url}/2023-03-30/functions/ferry/invocations`);
  });

  it('answers an async invocation with 202 at once and delivers it afterwards', async () => {
    // The invocation takes 3 s in the runtime: the 202 comes back long before, while it still runs.
    const route = '/slow?ms=3000';
    const ended = (): boolean => records().some((r) => r.kind === 'end' && r.route === route);
    const res = await emulator.invoke(JSON.stringify({ path: route, tag: 'async-1' }), { async: true });
    // The answer came while the invocation still runs: it did not wait for the end.
    expect(ended()).toBe(false);
    expect(res.status).toBe(202);
    expect(res.body.length).toBe(0);
    const requestId = res.headers['x-fc-request-id'];
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const delivered = await waitFor(() => ended() && records().find((r) => r.headers?.['x-fc-request-id'] === requestId), 10_000, 'async delivery');
    expect(delivered.url).toBe('/invoke');
    expect(delivered.body).toContain('async-1');
    expect(delivered.headers['x-fc-access-key-id']).toBe(credentials.accessKeyId);
  });

  it('proxies any other path as an HTTP trigger: method, path, query, headers and body', async () => {
    const res = await fetch(`${emulator.url}/some/path?x=1&y=two%20words`, {
      method: 'PUT',
      body: 'payload bytes',
      headers: { 'x-custom': 'kept', 'x-fc-access-key-id': 'spoofed' },
    });
    expect(res.status).toBe(200);
    const echo = (await res.json()) as Echo;
    expect(echo).toMatchObject({ method: 'PUT', url: '/some/path?x=1&y=two%20words', body: 'payload bytes' });
    expect(echo.headers['x-custom']).toBe('kept');
    // FC owns the x-fc-* namespace: a caller cannot pass its own credentials.
    expect(echo.headers['x-fc-access-key-id']).toBe(credentials.accessKeyId);
    expect(res.headers.get('x-fc-request-id')).toBe(echo.headers['x-fc-request-id']);

    const teapot = await fetch(`${emulator.url}/status/418`);
    expect(teapot.status).toBe(418);

    // Bodies stream through with no size limit on the sync path.
    const big = 'x'.repeat(3 * 1024 * 1024);
    const bigEcho = (await (await fetch(`${emulator.url}/upload`, { method: 'POST', body: big })).json()) as Echo;
    expect(bigEcho.body.length).toBe(big.length);
  });

  it('honours X-Fc-Invocation-Type: Async on the HTTP trigger, with a bounded body', async () => {
    const res = await fetch(`${emulator.url}/jobs/run?id=7`, {
      method: 'POST',
      body: '{"job":7}',
      headers: { 'x-fc-invocation-type': 'Async', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(202);
    const requestId = res.headers.get('x-fc-request-id');
    const delivered = await waitFor(() => records().find((r) => r.headers?.['x-fc-request-id'] === requestId), 10_000, 'async HTTP delivery');
    expect(delivered).toMatchObject({ method: 'POST', url: '/jobs/run?id=7', body: '{"job":7}' });
    expect(delivered.headers['content-type']).toBe('application/json');

    const tooBig = await fetch(`${emulator.url}/jobs/run`, {
      method: 'POST',
      body: 'x'.repeat(1024 * 1024 + 1),
      headers: { 'x-fc-invocation-type': 'Async' },
    });
    expect(tooBig.status).toBe(413);
  });
});

describe('async queue', () => {
  it('delivers in order with at most asyncConcurrency at once', async () => {
    const { emulator, records } = await start({ asyncConcurrency: 2 });
    for (let seq = 0; seq < 6; seq++) {
      const res = await emulator.invoke(JSON.stringify({ path: `/slow?ms=150&seq=${seq}` }), { async: true });
      expect(res.status).toBe(202);
    }
    const slow = () => records().filter((r) => r.route.startsWith('/slow'));
    await waitFor(() => slow().filter((r) => r.kind === 'end').length === 6, 10_000, 'six deliveries');

    const order = slow()
      .filter((r) => r.kind === 'start')
      .map((r) => Number(new URL(r.route, 'http://x').searchParams.get('seq')));
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    let running = 0;
    let peak = 0;
    for (const r of slow()) {
      running += r.kind === 'start' ? 1 : -1;
      peak = Math.max(peak, running);
    }
    expect(peak).toBe(2);
  });

  it('retries an invocation the runtime fails with 5xx up to 3 times', async () => {
    const { emulator, records, lines } = await start();
    const res = await emulator.invoke('{"path":"/status/503"}', { async: true });
    const requestId = res.headers['x-fc-request-id'];
    await waitFor(() => lines.some((l) => l.includes(`${requestId} failed after 4 attempt(s)`)), 10_000, 'failure note');
    await delay(300);
    // Every attempt carries the same request id, as FC's retries do.
    expect(records().filter((r) => r.kind === 'start' && r.headers['x-fc-request-id'] === requestId)).toHaveLength(4);
  });

  it('delivers an async invocation queued while the runtime is down', async () => {
    const { emulator, records } = await start();
    const pid = emulator.runtimePid();
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    const res = await emulator.invoke('{"tag":"after-kill"}', { async: true });
    expect(res.status).toBe(202);
    const delivered = await waitFor(() => records().find((r) => r.body?.includes('after-kill')), 10_000, 'delivery to the new instance');
    expect(delivered.pid).not.toBe(pid);
  });
});

describe('runtime lifecycle', () => {
  it('restarts a crashed runtime and initializes the new instance', async () => {
    const { emulator, records, lines } = await start();
    const firstPid = emulator.runtimePid()!;
    const crash = await fetch(`${emulator.url}/crash`);
    expect(crash.status).toBe(502);
    expect(await crash.json()).toMatchObject({ Code: 'RuntimeUnavailable' });
    // Wait for the emulator to see the exit (not just the OS): a request racing a dying runtime
    // fails, as it would on FC.
    await waitFor(() => emulator.runtimePid() === undefined, 10_000, 'emulator to see the exit');
    expect(() => process.kill(firstPid, 0)).toThrow();

    const res = await emulator.invoke('{"after":"crash"}');
    expect(res.status, res.body.toString()).toBe(200);
    const echo = JSON.parse(res.body.toString()) as Echo;
    expect(echo.pid).not.toBe(firstPid);
    expect(emulator.runtimePid()).toBe(echo.pid);
    const inits = starts(records(), '/initialize');
    expect(inits.map((r) => r.pid)).toEqual([firstPid, echo.pid]);
    expect(lines).toContain('crashing on purpose');
  });

  it('fails to start with the exit code and the runtime output', async () => {
    const err = await start({ bootstrap: join(fixtures, 'bootstrap-fail') }).then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/exited with code 1 before listening on port \d+/);
    expect(err.message).toContain('fatal: FAKE_CONFIG is not set');
  });

  it('fails to start when the runtime never listens, or /initialize fails', async () => {
    const slow = await start({ startTimeoutMs: 300 }, { FAKE_START_DELAY_MS: '5000' }).then(unexpected, (e: unknown) => e as Error);
    expect(slow.message).toMatch(/did not listen on port \d+ \(FC_SERVER_PORT\) within 300 ms/);
    const badInit = await start({}, { FAKE_INIT_STATUS: '500' }).then(unexpected, (e: unknown) => e as Error);
    expect(badInit.message).toMatch(/answered POST \/initialize with 500/);
    const missing = await start({ bootstrap: join(fixtures, 'no-such-bootstrap') }).then(unexpected, (e: unknown) => e as Error);
    expect(missing.message).toMatch(/could not be started.*ENOENT/);
  });

  it('waits for a runtime that is slow to listen', async () => {
    const { emulator } = await start({}, { FAKE_START_DELAY_MS: '400' });
    expect((await emulator.invoke('{}')).status).toBe(200);
  });

  it('close() stops the whole process group and leaves no process behind', async () => {
    const { emulator } = await start({ bootstrap: join(fixtures, 'bootstrap-noexec') });
    const bashPid = emulator.runtimePid()!;
    const nodePid = (JSON.parse((await emulator.invoke('{}')).body.toString()) as Echo).pid;
    expect(nodePid).not.toBe(bashPid);
    await emulator.close();
    expect(() => process.kill(bashPid, 0)).toThrow();
    await waitFor(() => isGone(nodePid), 10_000, 'node grandchild gone');
    expect(emulator.runtimePid()).toBeUndefined();
    await expect(fetch(emulator.url)).rejects.toThrow();
  });

  it('takes the runtime down when the host process exits without close()', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(fixtures, 'host-exits.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const pid = Number(out.trim());
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => isGone(pid), 10_000, 'orphaned runtime gone');
  });

  it('close() calls GET /pre-stop (FC\'s PreStop hook) once before it stops the runtime', async () => {
    const { emulator, records } = await start();
    const pid = emulator.runtimePid()!;
    await emulator.close();
    const hook = starts(records(), '/pre-stop');
    expect(hook).toHaveLength(1);
    expect(hook[0]).toMatchObject({ method: 'GET', pid, headers: { 'x-fc-request-id': expect.any(String), 'x-fc-function-name': 'ferry' } });
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('close() escalates to SIGKILL when the runtime ignores SIGTERM', async () => {
    const { emulator, lines } = await start({ stopGraceMs: 300 }, { FAKE_IGNORE_SIGTERM: '1' });
    const pid = emulator.runtimePid()!;
    await emulator.close();
    // It handled SIGTERM (and lived on), yet close() ended it: only SIGKILL can have.
    expect(lines).toContain('ignoring SIGTERM');
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

// ferry's own worker, when it has been built (`npm run build`): the same emulator starts it.
const realBootstrap = join(ROOT, 'bootstrap');
const realMain = join(ROOT, 'dist/worker/main.js');
const realReady = existsSync(realBootstrap) && existsSync(realMain);
describe.skipIf(!realReady)(`real ./bootstrap${realReady ? '' : ' (skipped: ./bootstrap or dist/worker/main.js missing; run npm run build)'}`, () => {
  it('serves /healthz through the HTTP trigger and an API-gateway event through /invoke', async () => {
    chmodSync(realBootstrap, 0o755);
    const lines: string[] = [];
    const emulator = await startFcEmulator({ bootstrap: realBootstrap, cwd: ROOT, credentials, log: (line) => lines.push(line) });
    open.push(emulator);
    const health = await fetch(`${emulator.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });

    const event = { path: '/healthz', httpMethod: 'GET', headers: {}, queryParameters: {}, pathParameters: {}, body: '', isBase64Encoded: false };
    const res = await emulator.invoke(JSON.stringify(event));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ statusCode: 200 });
    // The runtime logs FC's invoke lines itself; the emulator only forwards its output.
    const requestId = res.headers['x-fc-request-id'];
    await waitFor(() => lines.some((l) => l.includes(`FC Invoke End RequestId: ${requestId}`)), 2000, 'FC Invoke End line');
    await emulator.close();
  });
});
