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

// `ferry serve`'s stack with the worker's FERRY_NOTIFY_URL pointing at a fault proxy in front of the
// gateway's NOTIFY API: the worker cannot push anything to the device for the whole job. The job must
// still complete, and a client must still get the result (by GET /jobs/:id, which followJob falls back on).
let git: GitServer;
let proxy: FaultProxy;
let stack: LocalStack | undefined;
let temp: string;
let bucket: ObjectStore;

beforeAll(async () => {
  const root = await fixtureRoot();
  git = await startGitServer({ root });
  temp = await mkdtemp(join(tmpdir(), 'ferry-faults-'));
  // The gateway listens only once the stack is up; the proxy looks its address up per connection.
  proxy = await startFaultProxy({
    target: () => {
      const gateway = new URL(stack?.api ?? 'http://127.0.0.1:9');
      return { host: gateway.hostname, port: Number(gateway.port) };
    },
    unit: 'request',
  });
  stack = await startLocalStack({ dataDir: join(temp, 'stack'), port: 0, allowHosts: [git.host], allowHttp: true, workerEnv: { FERRY_NOTIFY_URL: `${proxy.url}/notify` } });
  bucket = await stackBucket(join(temp, 'stack'), stack);
});

afterAll(async () => {
  await stack?.close();
  await proxy?.close();
  await git?.close();
  await rm(temp, { recursive: true, force: true });
});

describe.each([
  ['answering 503', { type: 'http', status: 503, body: 'unavailable' }],
  ['dropping every connection', { type: 'drop', reset: true }],
] as const)('the NOTIFY endpoint %s for the whole job', (_what, fault) => {
  it('the job completes, the client gets the result, GET /jobs/:id has it done with its URL, nothing is left', async () => {
    const api = stack!;
    const faultsBefore = proxy.stats.faults;
    proxy.setRule({ fault });
    const client = new GatewayClient({ url: api.gateway, credentials: { appKey: api.appKey, appSecret: api.appSecret } });
    await client.connect();
    const events: FollowEvent[] = [];
    try {
      // A fresh archive each time (a format not built before in this file), so the job runs and pushes.
      const format = fault.type === 'http' ? 'zip' : 'tar.gz';
      const submitted = await submitJob(client, { url: `${git.url}/fixtures/basic`, format });
      expect(submitted.type).toBe('submitted');
      const jobId = (submitted as { jobId: string }).jobId;
      const done = await followJob(client, jobId, { idlePollMs: 500, onEvent: (event) => events.push(event), signal: AbortSignal.timeout(120_000) });
      expect(done).toMatchObject({ jobId, format, cached: false });
      // The worker did try to push, and every push failed.
      expect(proxy.stats.faults).toBeGreaterThan(faultsBefore);

      const state = (await (await fetch(`${api.api}/jobs/${jobId}`)).json()) as Record<string, unknown>;
      expect(state).toMatchObject({ jobId, status: 'done', url: done.url, sha256: done.sha256 });
      const bytes = Buffer.from(await (await fetch(done.url)).arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.sha256);
      expect(await findLeftovers({ ossDataDir: join(temp, 'stack', 'oss'), workDir: join(temp, 'stack', 'work'), store: bucket })).toEqual({ uploads: [], leases: [], tempFiles: [] });
    } finally {
      client.close();
    }
  });
});
