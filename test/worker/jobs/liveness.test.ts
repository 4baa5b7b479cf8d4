import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLiveness } from '../../../src/worker/jobs/liveness.js';
import type { NotifierLike } from '../../../src/worker/jobs/notify-listener.js';
import { JobReporter } from '../../../src/worker/jobs/reporter.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createFindJob } from '../../../src/worker/jobs/submit.js';
import { failedJob, isFailureEvent } from '../../../src/worker/runtime/failure-event.js';
import { encodeJobEvent } from '../../../src/worker/jobs/job-event.js';
import { stateToJSON, type JobMessage, type JobSpec, type JobState } from '../../../src/protocol/job.js';
import { jobStateKey } from '../../../src/worker/storage/keys.js';
import { MemoryStore } from '../fakes.js';

// Which states a reader judges lost, and what it records and pushes. The in-memory store of fakes.ts: this
// is about decisions on stored states; test/e2e/liveness.test.ts kills real worker processes.
const JOB = 'job-1234567890';
const LOST_AFTER = 30_000;
const NOW = 1_000_000;

class RecordingNotifier implements NotifierLike {
  readonly sent: { deviceId: string; message: JobMessage }[] = [];
  send(deviceId: string, _jobId: string, message: JobMessage): void {
    this.sent.push({ deviceId, message });
  }
  async flush(): Promise<void> {}
}

function state(fields: Partial<JobState>): JobState {
  return { jobId: JOB, kind: 'archive', status: 'running', phase: 'archiving', repo: 'https://github.com/a/b', ref: 'main', commit: 'a'.repeat(40), format: 'zip', createdAt: 1, updatedAt: 1, deviceId: 'device-1', ...fields };
}

function setup() {
  const store = new MemoryStore();
  const notifier = new RecordingNotifier();
  const states = new JobStateStore();
  const liveness = createLiveness({ states, notifier, lostAfterMs: LOST_AFTER, clock: () => NOW });
  const findJob = createFindJob({ states, storeFor: () => store, liveness });
  const stored = async (): Promise<JobState> => JSON.parse((await store.getText(jobStateKey(JOB))) as string) as JobState;
  return { store, notifier, states, liveness, findJob, stored };
}

describe('a reader deciding that a job is lost', () => {
  it.each([
    ['running, heartbeat past the bound', state({ heartbeatAt: NOW - LOST_AFTER - 1 })],
    ['queued on a worker, heartbeat past the bound', state({ status: 'queued', phase: 'queued', heartbeatAt: NOW - LOST_AFTER - 1 })],
    ['stopped and waiting for a retry that never came', state({ status: 'error', phase: undefined, error: { code: 'WORKER_STOPPING', message: 'stopped', retrying: true }, heartbeatAt: 0 })],
  ])('%s: answers, records and pushes WORKER_LOST', async (_name, before) => {
    const { states, store, findJob, stored, notifier } = setup();
    await states.write(store, before);
    const answer = await findJob(JOB, undefined);
    expect(answer).toMatchObject({ status: 'error', error: { code: 'WORKER_LOST', message: expect.stringContaining('Submit it again') } });
    expect(answer.error?.retrying).toBeUndefined();
    expect(await stored()).toMatchObject({ status: 'error', error: { code: 'WORKER_LOST' } });
    expect(notifier.sent).toEqual([{ deviceId: 'device-1', message: expect.objectContaining({ type: 'error', jobId: JOB, code: 'WORKER_LOST' }) }]);
    // The device a job pushes to is stored, never answered.
    expect(stateToJSON(answer)).not.toHaveProperty('deviceId');
  });

  it.each([
    ['a fresh heartbeat', state({ heartbeatAt: NOW - LOST_AFTER })],
    ['no heartbeat (still in FC\'s queue)', state({ status: 'queued', phase: 'queued' })],
    ['done', state({ status: 'done', phase: undefined, heartbeatAt: 0 })],
    ['a final error', state({ status: 'error', phase: undefined, error: { code: 'GIT_FAILED', message: 'x' }, heartbeatAt: 0 })],
  ])('%s: left as it is', async (_name, before) => {
    const { states, store, findJob, notifier } = setup();
    await states.write(store, before);
    expect(await findJob(JOB, undefined)).toEqual(JSON.parse(JSON.stringify(before)));
    expect(notifier.sent).toEqual([]);
  });

  it('never judges a job this instance runs', async () => {
    const { states, findJob } = setup();
    states.remember(state({ heartbeatAt: 0 }), true);
    expect(await findJob(JOB, undefined)).toMatchObject({ status: 'running' });
  });
});

describe('FC giving up on a job event (on-failure destination)', () => {
  const spec: JobSpec = { jobId: JOB, repo: 'https://github.com/a/b', ref: 'main', commit: 'a'.repeat(40), format: 'zip', createdAt: 1, deviceId: 'device-2' };

  it('ends a job that has not ended, and tells its device', async () => {
    const { states, store, liveness, stored, notifier } = setup();
    await states.write(store, state({ heartbeatAt: NOW, deviceId: undefined }));
    const ended = await liveness.giveUp(store, spec, 'Function Compute ran it 4 times');
    expect(ended).toMatchObject({ status: 'error', error: { code: 'WORKER_LOST', message: expect.stringContaining('ran it 4 times') } });
    expect(await stored()).toMatchObject({ error: { code: 'WORKER_LOST' } });
    expect(notifier.sent).toEqual([{ deviceId: 'device-2', message: expect.objectContaining({ code: 'WORKER_LOST' }) }]);
  });

  it('leaves a job that ended (a late duplicate of the event) as it is', async () => {
    const { states, store, liveness, notifier } = setup();
    const done = state({ status: 'done', phase: undefined });
    await states.write(store, done);
    expect(await liveness.giveUp(store, spec, 'x')).toEqual(JSON.parse(JSON.stringify(done)));
    expect(notifier.sent).toEqual([]);
  });

  it('reads the destination event FC sends: the failed event as a string or as an object', () => {
    const job = JSON.parse(encodeJobEvent(spec, 'secret')) as unknown;
    const context = { requestId: 'r', functionArn: 'acs:fc:cn-hongkong:1:functions/ferry', condition: 'RetriesExhausted', approximateInvokeCount: 3 };
    for (const requestPayload of [JSON.stringify(job), job]) {
      const event = { timestamp: 1, requestContext: context, requestPayload, responseContext: { statusCode: 200, functionError: 'UnhandledInvocationError' } };
      expect(isFailureEvent(event)).toBe(true);
      expect(failedJob(event)).toEqual({ job, detail: 'Function Compute ran it 3 times, RetriesExhausted, UnhandledInvocationError' });
    }
    expect(failedJob({ requestContext: context, requestPayload: '{"path":"/jobs","httpMethod":"POST"}' })).toBeUndefined();
    expect(failedJob({ requestContext: context, requestPayload: 'not json' })).toBeUndefined();
    expect(isFailureEvent({ path: '/jobs', httpMethod: 'GET' })).toBe(false);
  });
});

describe('the heartbeat of a job a worker holds', () => {
  afterEach(() => void vi.useRealTimers());

  it('is written at once, then every interval, and stops when the job ends', async () => {
    vi.useFakeTimers();
    const store = new MemoryStore();
    let now = 5000;
    const reporter = new JobReporter(state({ status: 'queued', phase: 'queued', deviceId: undefined }), store, new JobStateStore(), [], { intervalMs: 1000, clock: () => now });
    const beats = async (): Promise<number | undefined> => {
      await reporter.flush();
      return (JSON.parse((await store.getText(jobStateKey(JOB))) as string) as JobState).heartbeatAt;
    };
    reporter.startHeartbeat();
    expect(await beats()).toBe(5000);
    now = 6000;
    await vi.advanceTimersByTimeAsync(1000);
    expect(await beats()).toBe(6000);
    reporter.emit({ v: 1, type: 'error', jobId: JOB, code: 'GIT_FAILED', message: 'x' });
    await reporter.flush();
    const writes = store.writes.length;
    now = 9000;
    await vi.advanceTimersByTimeAsync(3000);
    await reporter.flush();
    expect(store.writes.length).toBe(writes);
  });
});
