import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../src/client/gateway-client.js';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';

// A quota refusal as a websocket client gets it: through the real local stack (gateway, FC emulator, worker
// process, OSS store), the worker's Retry-After header in the answer frame and retryAfter in its JSON body.

let git: GitServer;
let stack: LocalStack;
let work: string;
let commit: string;

beforeAll(async () => {
  git = await startGitServer({ root: await fixtureRoot() });
  commit = await gitRevParse(join(git.root, 'fixtures/basic.git'), 'HEAD');
  work = await mkdtemp(join(tmpdir(), 'ferry-quotas-stack-'));
  // One job a minute per client: the embedded stack turns the rate off unless told.
  stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: [git.host], allowHttp: true, workerEnv: { FERRY_RATE_LIMIT: '1' } });
});

afterAll(async () => {
  await stack?.close();
  await git?.close();
  await rm(work, { recursive: true, force: true });
});

describe('quotas over the websocket', () => {
  it('answers a second job in the minute 429 RATE_LIMITED with Retry-After in the frame and retryAfter in the body', async () => {
    const client = new GatewayClient({ url: stack.gateway, credentials: { appKey: stack.appKey, appSecret: stack.appSecret } });
    try {
      await client.connect();
      const body = JSON.stringify({ url: `${git.url}/fixtures/basic`, ref: commit });
      const post = () => client.request({ method: 'POST', path: '/jobs', headers: { 'content-type': 'application/json' }, body });
      expect((await post()).status).toBeLessThan(300);
      // The wall clock may cross into the next minute between two posts (that one is admitted): a third is not.
      let refused = await post();
      if (refused.status < 300) refused = await post();
      expect(refused.status).toBe(429);
      const seconds = Number(refused.headers['retry-after']);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(60);
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'RATE_LIMITED', retryAfter: seconds });
    } finally {
      await client.close();
    }
  });
});
