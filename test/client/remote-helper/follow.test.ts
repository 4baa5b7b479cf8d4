/**
 * GrowingFile: a bundle read while another writer still appends to it — header first, then the pack's
 * bytes exactly as written; a writer that gives up ends the read short; a file never written fails.
 */
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrowingFile } from '../../../src/client/remote-helper/follow.js';

let temp: string;

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'ferry-follow-'));
});

afterAll(async () => {
  await rm(temp, { recursive: true, force: true });
});

const HEADER = `# v2 git bundle\n${'a'.repeat(40)} refs/heads/main\n\n`;

async function collect(pack: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('GrowingFile', () => {
  it('gives the header, then every byte after it as the writer appends, until the writer ends', async () => {
    const path = join(temp, 'growing.bundle');
    const growing = new GrowingFile(path);
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251));
    const reading = growing.bundle(async (header, pack) => ({ header, pack: await collect(pack) }));
    // The writer: the header split across writes, then the body in pieces, each announced.
    await writeFile(path, HEADER.slice(0, 10));
    growing.grew();
    await appendFile(path, HEADER.slice(10));
    growing.grew();
    for (let at = 0; at < body.length; at += 65_536) {
      await appendFile(path, body.subarray(at, at + 65_536));
      growing.grew();
    }
    growing.end();
    const { header, pack } = await reading;
    expect(header.tips).toEqual([{ oid: 'a'.repeat(40), name: 'refs/heads/main' }]);
    expect(header.length).toBe(Buffer.byteLength(HEADER));
    expect(pack.equals(body)).toBe(true);
  });

  it('ends the read short when the writer gives up, and fails when nothing was ever written', async () => {
    const path = join(temp, 'short.bundle');
    const growing = new GrowingFile(path);
    const reading = growing.bundle(async (_header, pack) => collect(pack));
    await writeFile(path, `${HEADER}partial`);
    growing.grew();
    growing.end();
    expect((await reading).toString()).toBe('partial');

    const never = new GrowingFile(join(temp, 'never.bundle'));
    const failing = never.bundle(async () => 'read');
    never.end();
    await expect(failing).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
