import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../../src/client/gateway-client.js';
import { followJob, submitJob, type FollowEvent } from '../../../src/client/job-follow.js';
import { startLocalStack, type LocalStack } from '../../../src/local/stack.js';
import type { ObjectStore } from '../../../src/worker/storage/oss-store.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { fixtureRoot } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { stackBucket } from '../../helpers/stack-bucket.js';
import { findLeftovers } from '../../helpers/stack-leftovers.js';

// A websocket client of `ferry serve`'s gateway whose network goes away mid-job: it reaches the gateway
// through a fault proxy, which resets its connection once the job is under way and refuses the next two
// attempts to reconnect. The client must reconnect and get the job's result.
let git: GitServer;
let proxy: FaultProxy;
let stack: LocalStack;
let temp: string;
let bucket: ObjectStore;

beforeAll(async () => {
  const root = await fixtureRoot();
  // Every git request waits, so the job is still running when the client's connection is cut.
  git = await startGitServer({ root, delayMs: 800 });
  temp = await mkdtemp(join(tmpdir(), 'ferry-faults-'));
  stack = await startLocalStack({ dataDir: join(temp, 'stack'), port: 0, allowHosts: [git.host], allowHttp: true });
  const gateway = new URL(stack.api);
  proxy = await startFaultProxy({ target: { host: gateway.hostname, port: Number(gateway.port) } });
  bucket = await stackBucket(join(temp, 'stack'), stack);
});

afterAll(async () => {
  await stack?.close();
  await proxy?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe('a client that loses its connection mid-job', () => {
  it('reconnects and gets the result; the job is done and leaves nothing behind', async () => {
    const url = new URL(stack.gateway);
    url.host = `${proxy.host}:${proxy.port}`;
    const client = new GatewayClient({ url: url.toString(), credentials: { appKey: stack.appKey, appSecret: stack.appSecret } });
    await client.connect();
    const events: FollowEvent[] = [];
    try {
      const submitted = await submitJob(client, { url: `${git.url}/fixtures/basic`, format: 'zip' });
      expect(submitted.type).toBe('submitted');
      const jobId = (submitted as { jobId: string }).jobId;
      // The cut is mid-job: the job has not ended yet (git answers slowly).
      expect(((await (await fetch(`${stack.api}/jobs/${jobId}`)).json()) as { status: string }).status).not.toBe('done');
      // The network goes: the connection is reset, and the next two connections are refused (reset at once).
      proxy.setRule({ fault: { type: 'drop', reset: true }, times: 2 });
      proxy.destroyConnections();
      const done = await followJob(client, jobId, { onEvent: (event) => events.push(event), signal: AbortSignal.timeout(120_000) });
      expect(done).toMatchObject({ jobId, format: 'zip', cached: false });
      expect(events.some((event) => event.type === 'reconnect')).toBe(true);
      expect(proxy.stats.faults).toBe(2);

      const state = (await (await fetch(`${stack.api}/jobs/${jobId}`)).json()) as Record<string, unknown>;
      expect(state).toMatchObject({ jobId, status: 'done', url: done.url, sha256: done.sha256 });
      const bytes = Buffer.from(await (await fetch(done.url)).arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.sha256);
      expect(await findLeftovers({ ossDataDir: join(temp, 'stack', 'oss'), workDir: join(temp, 'stack', 'work'), store: bucket })).toEqual({ uploads: [], leases: [], tempFiles: [] });
    } finally {
      client.close();
    }
  });
});
