import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../../src/local/fc/index.js';
import { startAsyncStage, submitJob, type AsyncStage } from '../../helpers/async-stage.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { unfinishedUploads } from '../../helpers/stack-leftovers.js';
import { waitForJob } from '../../helpers/wait.js';

// The worker's OSS endpoint is a fault proxy in front of the local store: every 10th part upload is
// answered 500 by the proxy, in OSS's stead. The job must still succeed, whole.
const KEY = { accessKeyId: 'LTAI-faults', accessKeySecret: 'faults-secret' };
let stage: AsyncStage;
let proxy: FaultProxy;
let fc: FcEmulator;

beforeAll(async () => {
  stage = await startAsyncStage({ name: 'faults', key: KEY });
  proxy = await startFaultProxy({ target: stage.ossTarget, unit: 'request' });
  // Small parts, so an archive is many of them.
  fc = await stage.startWorker({ env: { FERRY_OSS_ENDPOINT: proxy.url, FERRY_PART_SIZE: String(100 * 1024), FERRY_MAX_ARCHIVE_BYTES: String(512 * 1024 * 1024), FERRY_MAX_FILE_BYTES: String(512 * 1024 * 1024) } });
});

afterAll(() => stage?.close(proxy));

describe('OSS answering 500 to every 10th part upload', () => {
  it('the job succeeds: failed parts are sent again, the object is whole, no upload is left unfinished', async () => {
    proxy.setRule({ fault: { type: 'http', status: 500, body: '<Error><Code>InternalError</Code></Error>' }, every: 10, match: (head) => head.method === 'PUT' && head.path.includes('partNumber=') });
    const jobId = await submitJob(fc.url, { url: `${stage.git.url}/fixtures/many`, format: 'zip' });
    const done = await waitForJob(fc.url, jobId, 120_000);
    expect(done).toMatchObject({ status: 'done', cached: false });
    expect(proxy.stats.faults).toBeGreaterThan(0);
    const bytes = Buffer.from(await (await fetch(done.url as string)).arrayBuffer());
    expect(bytes.length).toBe(done.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.sha256);
    expect(await unfinishedUploads(join(stage.temp, 'oss'))).toEqual([]);
  });
});
