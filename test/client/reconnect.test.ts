/**
 * Connections that end mid-job: a gateway whose connections live 1.5 s (CR) in front of a slowed git
 * server, so every job outlives its first connection; and a client that vanishes right after submitting.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../src/client/gateway-client.js';
import { followJob, submitJob, type FollowEvent } from '../../src/client/job-follow.js';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { fixtureRoot, gitArchiveSha, gitRevParse, sha256File } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';

const LIFETIME_MS = 1500;

let work: string;
let gitServer: GitServer;
let stack: LocalStack;
let basicDir: string;

beforeAll(async () => {
  const root = await fixtureRoot();
  work = await mkdtemp(join(tmpdir(), 'ferry-reconnect-'));
  // Every git request waits 800 ms. Resolving the ref is one request (ls-refs) and fetching two, so a job
  // lasts ≥ 2.4 s from its submit, well past the connection's 1.5 s: it cannot finish before the CR.
  gitServer = await startGitServer({ root, delayMs: 800 });
  stack = await startLocalStack({
    dataDir: join(work, 'stack'),
    port: 0,
    allowHosts: [gitServer.host],
    allowHttp: true,
    gateway: { maxConnectionLifetimeMs: LIFETIME_MS },
  });
  basicDir = join(root, 'fixtures/basic.git');
});

afterAll(async () => {
  await stack?.close();
  await gitServer?.close();
  await rm(work, { recursive: true, force: true });
});

describe('reconnecting', () => {
  it('ferry get survives CR mid-job: reconnects, re-registers, catches up and saves the archive', async () => {
    const output = join(work, 'feature.tar.gz');
    const commit = await gitRevParse(basicDir, 'feature/x');
    const run = await runFerry(['get', `${gitServer.url}/fixtures/basic`, '--ref', 'feature/x', '--format', 'tar.gz', '-o', output, '--json',
      '--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const reconnects = run.events.filter((e) => e.type === 'reconnect');
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(reconnects[0]).toMatchObject({ reason: 'CR' });
    const done = run.events.find((e) => e.type === 'done')!;
    expect(done).toMatchObject({ commit, format: 'tar.gz', cached: false });
    expect(run.events.filter((e) => e.type === 'done')).toHaveLength(1);
    expect(await sha256File(output)).toBe(await gitArchiveSha(basicDir, commit, 'tar.gz', `basic-${commit.slice(0, 7)}`));
  });

  it('a job whose client vanished still completes; another connection obtains the result by job id', async () => {
    const credentials = { appKey: stack.appKey, appSecret: stack.appSecret };
    const first = new GatewayClient({ url: stack.gateway, credentials });
    await first.connect();
    const submitted = await submitJob(first, { url: `${gitServer.url}/fixtures/basic`, ref: 'release', format: 'zip' });
    first.close(); // gone before the job even starts: its pushes find no device
    expect(submitted.type).toBe('submitted');
    const jobId = submitted.jobId;

    const second = new GatewayClient({ url: stack.gateway, credentials });
    await second.connect();
    const events: FollowEvent[] = [];
    try {
      const done = await followJob(second, jobId, { idlePollMs: 300, onEvent: (e) => events.push(e), signal: AbortSignal.timeout(30_000) });
      expect(done).toMatchObject({ jobId, ref: 'release', commit: await gitRevParse(basicDir, 'release'), format: 'zip' });
    } finally {
      second.close();
    }
    // The stored state is there for anyone, over plain HTTP too.
    const state = (await (await fetch(`${stack.api}/jobs/${jobId}`)).json()) as Record<string, unknown>;
    expect(state).toMatchObject({ jobId, status: 'done', ref: 'release' });
  });

  it('--timeout gives up on a slow job: exit 1 with TIMEOUT', async () => {
    const run = await runFerry(['get', `${gitServer.url}/fixtures/many`, '--timeout', '0.3', '--json',
      '--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: TIMEOUT: Gave up waiting for the job \(--timeout\)/m);
    expect(run.events.at(-1)).toMatchObject({ type: 'failed', code: 'TIMEOUT' });
  });

  it('a second gateway client keeps working across CR: calls wait for the new connection', async () => {
    const client = new GatewayClient({ url: stack.gateway, credentials: { appKey: stack.appKey, appSecret: stack.appSecret } });
    const reasons: string[] = [];
    client.on('reconnect', (info) => reasons.push(info.reason));
    await client.connect();
    try {
      await new Promise((resolve) => setTimeout(resolve, LIFETIME_MS + 600));
      const res = await client.request({ method: 'GET', path: '/healthz' });
      expect(res.status).toBe(200);
      expect(reasons.length).toBeGreaterThanOrEqual(1);
      expect(reasons[0]).toBe('CR');
    } finally {
      client.close();
    }
  });
});
