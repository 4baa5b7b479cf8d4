/**
 * Jobs always end: the local stack (gateway, FC emulator with its async retries and on-failure
 * destination, as deployed) with its worker process SIGKILLed on every attempt of a job. A client
 * follows the job over the gateway's websocket; another polls GET /jobs/:id.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayClient } from '../../src/client/gateway-client.js';
import { submitAndFollow, type FollowEvent } from '../../src/client/job-follow.js';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { FerryError } from '../../src/protocol/errors.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { jobState, waitFor, waitForJob } from '../helpers/wait.js';

// The emulator delivers an async invocation once and retries it 3 times, as FC does by default.
const ATTEMPTS = 4;

let work: string;
let git: GitServer;
let stack: LocalStack;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-liveness-'));
  // Slow enough that every attempt is still under way when its worker is killed.
  git = await startGitServer({ root: await fixtureRoot(), delayMs: 1500 });
  stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: [git.host], allowHttp: true, workerEnv: { FERRY_HEARTBEAT: '1' } });
});

afterAll(async () => {
  await stack?.close();
  await git?.close();
  await rm(work, { recursive: true, force: true });
});

// While an instance is replaced the gateway's backend call fails: undefined, and the poll asks again.
const state = (jobId: string): Promise<Record<string, unknown> | undefined> => jobState(stack.api, jobId);

describe('a job whose worker dies on every attempt', () => {
  it('ends as WORKER_LOST, pushed to the client that follows it and answered to pollers', async () => {
    const client = new GatewayClient({ url: stack.gateway, credentials: { appKey: stack.appKey, appSecret: stack.appSecret } });
    await client.connect();
    const events: FollowEvent[] = [];
    let jobId: string | undefined;
    try {
      // Polls only long after the end: what the client learns, it learns from pushes.
      const following = submitAndFollow(client, { url: `${git.url}/fixtures/many`, format: 'zip' }, {
        idlePollMs: 120_000,
        signal: AbortSignal.timeout(150_000),
        onEvent: (event) => {
          events.push(event);
          if (event.type === 'submitted') jobId = event.jobId;
        },
      });
      following.catch(() => undefined);
      await waitFor(() => jobId, 20_000, 'the job to be submitted');
      const id = jobId as string;

      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        // Each attempt on its own instance: wait until it has begun, then take the whole instance down.
        const seen = await waitFor(async () => {
          const current = await state(id);
          return current?.attempt === attempt && current.status === 'running' ? current : undefined;
        }, 60_000, `attempt ${attempt} to run`);
        expect(seen).not.toHaveProperty('deviceId');
        const pid = stack.runtimePid();
        expect(pid).toBeGreaterThan(0);
        process.kill(-(pid as number), 'SIGKILL');
        await waitFor(() => stack.runtimePid() !== pid, 30_000, 'the killed instance to be gone');
      }

      const failure = await following.then(() => undefined, (error: unknown) => error);
      expect(failure).toBeInstanceOf(FerryError);
      expect(failure).toMatchObject({ code: 'WORKER_LOST' });
      expect(events.at(-1)).toMatchObject({ type: 'error', jobId: id, code: 'WORKER_LOST' });
      // Recorded by the on-failure destination once the retries were spent (not by a reader's bound: 30 s here).
      expect(await waitForJob(stack.api, id)).toMatchObject({ status: 'error', code: 'WORKER_LOST', attempt: ATTEMPTS, message: expect.stringContaining(`ran it ${ATTEMPTS} times`) });

      // Each later attempt said why its phases started over.
      const resumed = events.filter((event) => event.type === 'progress' && event.message === 'worker restarted, resuming');
      expect(resumed.map((event) => (event as { attempt?: number }).attempt)).toEqual(expect.arrayContaining([2, 3, 4]));
    } finally {
      client.close();
    }
  // Four instances started and killed one after another, each after git has begun: minutes on a loaded machine,
  // within the follower's own 150 s signal.
  }, 240_000);
});
