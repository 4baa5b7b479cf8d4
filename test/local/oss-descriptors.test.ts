import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { KEY, clientOf, fileIdOf, openDescriptors, pathClientOf, putMultipart, signedGet, threeParts } from './_oss.js';

// A GET opens the object's files before it answers; whatever fails after that must close them.

const BUCKET = 'ferry-fd';
const OBJECT = 'fd/archive.tar.gz';

let server: OssServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-oss-fd-'));
  server = await startOssServer({ dataDir, credentials: [KEY], buckets: [BUCKET] });
  await putMultipart(clientOf(server, BUCKET), OBJECT, threeParts());
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/**
 * Fetches `url` ten times, after one warm-up request so that the connection fetch keeps alive is
 * already counted, and returns the answers with the growth in this process's descriptors (the
 * server runs in it; a leak on a 3-part object is 3 per GET). Linux only: the count comes from /proc.
 */
async function tenGets(url: string): Promise<{ answers: { status: number; body: string }[]; grown: number }> {
  await (await fetch(url)).arrayBuffer();
  const before = await openDescriptors();
  const answers: { status: number; body: string }[] = [];
  for (let i = 0; i < 10; i += 1) {
    const response = await fetch(url);
    answers.push({ status: response.status, body: await response.text() });
  }
  // Closing a handle completes asynchronously.
  await new Promise((settle) => setTimeout(settle, 50));
  const after = await openDescriptors();
  if (before === undefined || after === undefined) throw new Error('/proc/self/fd is missing: descriptors cannot be counted here');
  return { answers, grown: after - before };
}

describe.skipIf(process.platform !== 'linux')('GET descriptors', () => {
  it('answers a signed response-* override that is no valid header value with 400 InvalidArgument, leaking nothing', async () => {
    const { answers, grown } = await tenGets(await signedGet(pathClientOf(server, BUCKET), OBJECT, { 'response-content-type': 'text/中' }));
    expect(grown).toBeLessThan(10);
    for (const answer of answers) {
      expect(answer.status).toBe(400);
      expect(answer.body).toMatch(/^<\?xml[^>]*>\n<Error><Code>InvalidArgument<\/Code><Message>[^<]+<\/Message><RequestId>[0-9A-F]{24}<\/RequestId><HostId>[^<]+<\/HostId><ArgumentName>response-content-type<\/ArgumentName><ArgumentValue>text\/中<\/ArgumentValue><\/Error>/);
    }
  });

  it('closes the files it opened when the answer fails before the body is piped', async () => {
    // A stored header writeHead refuses cannot come from a client (Node parsed it from a request), so
    // the record is edited by hand: it is the one way left to make writeHead throw after the open.
    const record = join(dataDir, BUCKET, `${fileIdOf(OBJECT)}.json`);
    const meta = JSON.parse(await readFile(record, 'utf8')) as { headers: Record<string, string> };
    await writeFile(record, JSON.stringify({ ...meta, headers: { ...meta.headers, 'x-oss-meta-bad': 'line\nbreak' } }));
    const { answers, grown } = await tenGets(await signedGet(pathClientOf(server, BUCKET), OBJECT));
    expect(grown).toBeLessThan(10);
    for (const answer of answers) expect(answer).toMatchObject({ status: 500, body: expect.stringContaining('<Code>InternalError</Code>') });
    await writeFile(record, JSON.stringify(meta));
    expect((await fetch(await signedGet(pathClientOf(server, BUCKET), OBJECT))).status).toBe(200);
  });
});
