import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { archiveObject } from '../../../src/worker/artifacts/archive.js';
import { loadConfig } from '../../../src/worker/config.js';
import { FerryError } from '../../../src/protocol/errors.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import type { NotifierLike } from '../../../src/worker/jobs/notify-listener.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createFindJob, createSubmit, type SubmitDeps } from '../../../src/worker/jobs/submit.js';
import type { JobMessage, JobSpec } from '../../../src/protocol/job.js';
import { jobStateKey } from '../../../src/worker/storage/keys.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer } from '../../helpers/git-server.js';
import { MemoryStore } from '../fakes.js';

// A full commit id is checked upstream at submit: the real git server answers it.
const server = await startGitServer({ root: await fixtureRoot() });
afterAll(() => server.close());
const config = loadConfig({ FERRY_ALLOWED_HOSTS: server.host, FERRY_ALLOW_HTTP: '1' });
const COMMIT = await gitRevParse(join(server.root, 'fixtures/basic.git'), 'HEAD');
const body = { url: `${server.url}/fixtures/basic`, ref: COMMIT, deviceId: 'device-1' };

class RecordingDispatcher implements Dispatcher {
  readonly specs: JobSpec[] = [];
  constructor(readonly failure?: Error) {}
  async dispatch(spec: JobSpec): Promise<void> {
    if (this.failure) throw this.failure;
    this.specs.push(spec);
  }
}

class RecordingNotifier implements NotifierLike {
  readonly sent: { deviceId: string; message: JobMessage }[] = [];
  send(deviceId: string, _jobId: string, message: JobMessage): void {
    this.sent.push({ deviceId, message });
  }
  async flush(): Promise<void> {}
}

function setup(dispatcher = new RecordingDispatcher()) {
  const store = new MemoryStore();
  const notifier = new RecordingNotifier();
  const git = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: [server.host] });
  const deps: SubmitDeps = { config, states: new JobStateStore(), dispatcher, notifier, storeFor: () => store, git, refs: new RefsCache({ git }) };
  return { store, notifier, dispatcher, submit: createSubmit(deps), findJob: createFindJob(deps) };
}

describe('submit (POST /jobs without HTTP)', () => {
  it('stores the job as queued and dispatches its spec, kind included', async () => {
    const { submit, dispatcher, store, findJob } = setup();
    const submitted = await submit({ body });
    expect(submitted).toMatchObject({ outcome: 'queued', state: { kind: 'archive', status: 'queued', commit: COMMIT, format: 'zip' } });
    expect(dispatcher.specs).toEqual([expect.objectContaining({ kind: 'archive', repo: body.url, deviceId: 'device-1' })]);
    expect(store.objects.has(jobStateKey(submitted.state.jobId))).toBe(true);
    expect(await findJob(submitted.state.jobId, undefined)).toMatchObject({ status: 'queued' });
  });

  it('answers from the cache when the artifact exists, and pushes the done message', async () => {
    const { submit, dispatcher, store, notifier } = setup();
    const request = { repo: parseRepoUrl(body.url, config), ref: COMMIT, commit: COMMIT, format: 'zip' as const };
    const manifest = { v: 1, repo: body.url, commit: COMMIT, format: 'zip', filename: 'repo-ccccccc.zip', size: 3, sha256: 'f'.repeat(64), createdAt: 1 };
    await store.put(archiveObject.keys(request).manifest, Buffer.from(JSON.stringify(manifest)));
    const submitted = await submit({ body });
    expect(submitted).toMatchObject({ outcome: 'cached', state: { status: 'done', result: { cached: true, filename: 'repo-ccccccc.zip' } } });
    expect(dispatcher.specs).toEqual([]);
    expect(notifier.sent).toEqual([{ deviceId: 'device-1', message: expect.objectContaining({ type: 'done', cached: true }) }]);
  });

  it('stores the failure and throws it when the job cannot be dispatched', async () => {
    const { submit, store } = setup(new RecordingDispatcher(new FerryError('INTERNAL', 'FC said no.')));
    await expect(submit({ body })).rejects.toMatchObject({ code: 'INTERNAL', message: 'FC said no.' });
    const stored = [...store.objects.values()].map((value) => JSON.parse(value.toString()) as { status: string; error?: { code: string } });
    expect(stored).toEqual([expect.objectContaining({ status: 'error', error: expect.objectContaining({ code: 'INTERNAL' }) })]);
  });

  it('takes the device id from the header when the body has none', async () => {
    const { submit, dispatcher } = setup();
    await submit({ body: { url: body.url, ref: COMMIT }, deviceIdHeader: 'device-2' });
    expect(dispatcher.specs[0]?.deviceId).toBe('device-2');
  });

  it('finds no job it never stored', async () => {
    const { findJob } = setup();
    await expect(findJob('job-nope-000000', undefined)).rejects.toMatchObject({ code: 'JOB_NOT_FOUND' });
  });
});
