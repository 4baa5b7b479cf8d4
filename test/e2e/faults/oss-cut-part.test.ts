import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FcEmulator } from '../../../src/local/fc/index.js';
import { startAsyncStage, submitJob, type AsyncStage } from '../../helpers/async-stage.js';
import { startFaultProxy, type FaultProxy } from '../../helpers/fault-proxy.js';
import { settledLeftovers } from '../../helpers/stack-leftovers.js';
import { waitForJob } from '../../helpers/wait.js';

// The worker's OSS endpoint is a fault proxy in front of the local store: once, a part upload's
// connection is cut part way through the part's body (the store sees a request that breaks off). The
// part is sent again and the job must succeed, whole, with nothing left behind.
const KEY = { accessKeyId: 'LTAI-faults', accessKeySecret: 'faults-secret' };
let stage: AsyncStage;
let proxy: FaultProxy;
let fc: FcEmulator;

beforeAll(async () => {
  stage = await startAsyncStage({ name: 'faults', key: KEY });
  proxy = await startFaultProxy({ target: stage.ossTarget, unit: 'request' });
  // Small parts, so the archive is several of them and the cut one is not the only one.
  fc = await stage.startWorker({ env: { FERRY_OSS_ENDPOINT: proxy.url, FERRY_PART_SIZE: String(100 * 1024), FERRY_MAX_ARCHIVE_BYTES: String(512 * 1024 * 1024), FERRY_MAX_FILE_BYTES: String(512 * 1024 * 1024) } });
});

afterAll(() => stage?.close(proxy));

describe('an OSS connection cut in the middle of a part upload, once', () => {
  it('the job succeeds: the part is sent again, the object is whole, no upload is left unfinished', async () => {
    // The third part upload's request is cut 50 KiB in: past its head, inside its body.
    proxy.setRule({ fault: { type: 'cut', atByte: 50 * 1024, direction: 'up', reset: true }, every: 3, times: 1, match: (head) => head.method === 'PUT' && head.path.includes('partNumber=') });
    const jobId = await submitJob(fc.url, { url: `${stage.git.url}/fixtures/many`, format: 'zip' });
    const done = await waitForJob(fc.url, jobId, 120_000);
    expect(done).toMatchObject({ status: 'done', cached: false });
    expect(proxy.stats.faults).toBe(1);
    const bytes = Buffer.from(await (await fetch(done.url as string)).arrayBuffer());
    expect(bytes.length).toBe(done.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(done.sha256);
    // The store drops the cut request's body (.tmp/*.part) when it sees the reset, which may be after the job is done.
    const leftovers = await settledLeftovers({ ossDataDir: join(stage.temp, 'oss'), workDir: join(stage.temp, 'work') });
    expect(leftovers.uploads).toEqual([]);
    expect(leftovers.tempFiles).toEqual([]);
  });
});
