import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/ferry-cli.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { startProcess, type StartedProcess } from '../helpers/process.js';
import { waitForJob } from '../helpers/wait.js';
import { ROOT } from '../helpers/worker-process.js';

// `ferry serve` exactly as a user starts it: a child process, its first --json line, then plain HTTP.
let git: GitServer;
let dataDir: string;
let serve: StartedProcess;
let info: { api: string; gateway: string; oss: string; appKey: string; appSecret: string };
let root: string;

beforeAll(async () => {
  root = await fixtureRoot();
  git = await startGitServer({ root });
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-serve-'));
  serve = await startProcess({
    command: process.execPath,
    args: [join(ROOT, 'bin/ferry.js'), 'serve', '--port', '0', '--json', '--data', dataDir, '--allow-host', git.host, '--allow-http'],
    cwd: ROOT,
    ready: /^\{.*\}$/,
    name: 'ferry serve',
  });
  info = JSON.parse(serve.ready[0]) as typeof info;
});

afterAll(async () => {
  await serve?.stop();
  await git?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('ferry serve', () => {
  it('prints its endpoints and dev credentials as one JSON line', () => {
    expect(info.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.gateway).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(info.oss).toMatch(/^http:\/\/localhost:\d+$/);
    expect(info.appKey).toMatch(/^dev/);
    expect(info.appSecret.length).toBeGreaterThanOrEqual(24);
  });

  it('keeps its data and credentials under --data', async () => {
    const credentials = await stat(join(dataDir, 'credentials.json'));
    expect(credentials.mode & 0o077).toBe(0);
    expect(JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8'))).toMatchObject({ appKey: info.appKey });
  });

  it('POST /jobs → 202 → GET /jobs/:id done → the signed URL downloads the archive', async () => {
    const commit = await gitRevParse(join(root, 'fixtures/basic.git'), 'main');
    const response = await fetch(`${info.api}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${git.url}/fixtures/basic`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    const done = await waitForJob(info.api, jobId);
    expect(done).toMatchObject({ status: 'done', commit, format: 'zip', filename: `basic-${commit.slice(0, 7)}.zip` });
    expect(String(done.url).startsWith(`${info.oss}/`)).toBe(true);
    const archive = Buffer.from(await (await fetch(done.url as string)).arrayBuffer());
    expect(createHash('sha256').update(archive).digest('hex')).toBe(done.sha256);
    expect(archive.subarray(0, 2).toString()).toBe('PK');
  });

  it('answers bad requests through the gateway with the worker\'s {code, message}', async () => {
    const response = await fetch(`${info.api}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'https://evil.example/a/b' }) });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: 'HOST_NOT_ALLOWED' });
  });

  it('refuses usage errors with exit 2', async () => {
    const { code, stderr } = await runFerry(['serve', '--rate-limit', 'lots']);
    expect(code).toBe(2);
    expect(stderr).toContain('--rate-limit');
  });

  it('refuses an --allow-origin that is more than an origin with exit 2', async () => {
    const { code, stderr } = await runFerry(['serve', '--allow-origin', 'https://site.example/page']);
    expect(code).toBe(2);
    expect(stderr).toContain('--allow-origin');
  });

  it('keeps other web pages out: a form post, a rebound name, a foreign origin', async () => {
    const form = await fetch(`${info.api}/jobs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ url: `${git.url}/fixtures/basic` }) });
    expect(form.status).toBe(415);
    const foreign = await fetch(`${info.api}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'https://evil.example.com' }, body: JSON.stringify({ url: `${git.url}/fixtures/basic` }) });
    expect(await foreign.json()).toMatchObject({ code: 'ORIGIN_NOT_ALLOWED' });
  });

  it('says which option to change when its port is taken (exit 2), instead of a raw EADDRINUSE', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as AddressInfo;
    const busyData = await mkdtemp(join(tmpdir(), 'ferry-serve-busy-'));
    try {
      const { code, stderr } = await runFerry(['serve', '--port', String(port), '--data', busyData]);
      expect(code).toBe(2);
      expect(stderr).toContain(`port ${port} on 127.0.0.1 is already in use`);
      expect(stderr).toContain('--port 0 for any free port');
      expect(stderr).not.toContain('EADDRINUSE');
    } finally {
      await new Promise((resolve) => holder.close(resolve));
      await rm(busyData, { recursive: true, force: true });
    }
  });

  it('stops cleanly on SIGTERM, taking the worker with it', async () => {
    const health = await fetch(`${info.api}/healthz`);
    expect(health.status).toBe(200);
    const exited = new Promise<number | null>((resolve) => serve.child.once('exit', resolve));
    serve.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`${info.api}/healthz`)).rejects.toThrow();
  });
});

/** The address another machine would use; the one `ferry serve` is expected to pick for 0.0.0.0. */
const externalIPv4 = Object.values(networkInterfaces())
  .flat()
  .find((address) => address?.family === 'IPv4' && !address.internal)?.address;

// Listening on every interface: what it prints and the links it signs name the machine's network address,
// and a download through that address works (this machine's own address stands in for another machine's view).
describe.skipIf(!externalIPv4)('ferry serve --host 0.0.0.0 (skipped when the machine has no non-internal IPv4 address)', () => {
  let wide: StartedProcess;
  let wideData: string;

  beforeAll(async () => {
    wideData = await mkdtemp(join(tmpdir(), 'ferry-serve-wide-'));
    wide = await startProcess({
      command: process.execPath,
      args: [join(ROOT, 'bin/ferry.js'), 'serve', '--host', '0.0.0.0', '--port', '0', '--data', wideData, '--allow-host', git.host, '--allow-http'],
      cwd: ROOT,
      ready: /^Press Ctrl\+C/,
      name: 'ferry serve --host 0.0.0.0',
    });
  });

  afterAll(async () => {
    await wide?.stop();
    if (wideData) await rm(wideData, { recursive: true, force: true });
  });

  /** The URL on the banner line that starts with `label`. */
  const printed = (label: string): URL => {
    const line = wide.output.find((l) => l.trimStart().startsWith(label));
    const url = line && /\b(?:https?|ws):\/\/\S+/.exec(line)?.[0];
    if (!url) throw new Error(`no "${label}" line in:\n${wide.output.join('\n')}`);
    return new URL(url);
  };

  it('prints addresses on the network, not loopback', () => {
    for (const label of ['web page', 'API', 'gateway', 'OSS', 'Try:']) expect(printed(label).hostname, label).toBe(externalIPv4);
    expect(wide.output.join('\n')).toContain(`links name ${externalIPv4 as string}`);
  });

  it('signs links for that address, and the archive downloads through it', async () => {
    const api = printed('API').origin;
    const page = await fetch(`${api}/`);
    expect(page.status).toBe(200);
    const response = await fetch(`${api}/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `${git.url}/fixtures/basic`, format: 'zip' }) });
    expect(response.status).toBe(202);
    const { jobId } = (await response.json()) as { jobId: string };
    const done = await waitForJob(api, jobId);
    expect(done.status).toBe('done');
    const link = new URL(done.url as string);
    expect(link.hostname).toBe(externalIPv4);
    expect(link.origin).toBe(printed('OSS').origin);
    const archive = Buffer.from(await (await fetch(link)).arrayBuffer());
    expect(createHash('sha256').update(archive).digest('hex')).toBe(done.sha256);
  });
});
