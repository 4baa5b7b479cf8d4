import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { KEY, clientOf, errorOf } from './_oss.js';

// x-oss-forbid-overwrite on PutObject: the conditional write the worker's build leases rest on.

const BUCKET = 'forbid-test';
let server: OssServer;
let dataDir: string;
let oss: OSS;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-oss-forbid-'));
  server = await startOssServer({ dataDir, credentials: [KEY], buckets: [BUCKET] });
  oss = clientOf(server, BUCKET);
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

const FORBID = { headers: { 'x-oss-forbid-overwrite': 'true' } };
const textOf = async (key: string): Promise<string> => Buffer.from((await oss.get(key)).content as Buffer).toString('utf8');

describe('x-oss-forbid-overwrite', () => {
  it('creates a new key', async () => {
    expect((await oss.put('new.txt', Buffer.from('created'), FORBID)).res.status).toBe(200);
    expect(await textOf('new.txt')).toBe('created');
  });

  it('refuses an existing key with 409 FileAlreadyExists, leaving the object as it was', async () => {
    await oss.put('taken.txt', Buffer.from('first'));
    expect(await errorOf(oss.put('taken.txt', Buffer.from('second'), FORBID))).toMatchObject({ status: 409, code: 'FileAlreadyExists' });
    expect(await textOf('taken.txt')).toBe('first');
  });

  it('overwrites without the header, or with it set to false', async () => {
    await oss.put('free.txt', Buffer.from('first'));
    await oss.put('free.txt', Buffer.from('second'));
    expect(await textOf('free.txt')).toBe('second');
    await oss.put('free.txt', Buffer.from('third'), { headers: { 'x-oss-forbid-overwrite': 'false' } });
    expect(await textOf('free.txt')).toBe('third');
  });

  it('refuses a value other than true or false with 400 InvalidArgument', async () => {
    await oss.put('odd.txt', Buffer.from('first'));
    const error = await errorOf(oss.put('odd.txt', Buffer.from('second'), { headers: { 'x-oss-forbid-overwrite': 'yes' } }));
    expect(error).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(await textOf('odd.txt')).toBe('first');
  });

  it('lets exactly one of many concurrent writers create a key', async () => {
    const attempts = Array.from({ length: 12 }, (_, i) => oss.put('race.txt', Buffer.from(`writer ${i}`), FORBID).then(() => i, () => undefined));
    const winners = (await Promise.all(attempts)).filter((i) => i !== undefined);
    expect(winners).toHaveLength(1);
    expect(await textOf('race.txt')).toBe(`writer ${winners[0]}`);
  });

  it('is covered by the V4 signature: a header changed after signing is refused', async () => {
    await oss.put('signed.txt', Buffer.from('first'));
    // A client whose requests have the header changed between signing and sending (ali-oss takes
    // its HTTP client as an option), as a meddling proxy could.
    const http = (oss as unknown as { urllib: { request(url: string, params: unknown): Promise<unknown> } }).urllib;
    const stripping = {
      request: (url: string, params: { headers: Record<string, string> }) => {
        params.headers['x-oss-forbid-overwrite'] = 'false';
        return http.request(url, params);
      },
    };
    const tampered = new OSS({ endpoint: server.endpoint, region: server.region, bucket: BUCKET, ...KEY, authorizationV4: true, urllib: stripping } as OSS.Options);
    const error = await errorOf(tampered.put('signed.txt', Buffer.from('second'), FORBID));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    expect(await textOf('signed.txt')).toBe('first');
  });
});
