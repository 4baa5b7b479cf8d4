/**
 * GrowingFile: a bundle read while another writer still appends to it — header first, then the pack's
 * bytes exactly as written; a writer that gives up ends the read short; a file never written fails;
 * a pre-sized file filled out of order (the parallel download) is read only below its watermark.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
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

  it('reads a pre-sized file filled out of order only below the watermark, and hashes exactly what it read', async () => {
    const path = join(temp, 'presized.bundle');
    const body = Buffer.from(Array.from({ length: 400_000 }, (_, i) => (i * 7) % 253));
    const whole = Buffer.concat([Buffer.from(HEADER), body]);
    // As download-parallel.ts does: the whole size at once (zeros), then pieces in any order.
    const file = await open(path, 'w+');
    await file.truncate(whole.length);
    const growing = new GrowingFile(path, undefined, { watermark: true });
    const reading = growing.bundle(async (header, pack) => ({ header, pack: await collect(pack) }));
    const piece = 100_000;
    const order = [2, 0, 4, 1, 3];
    const written = new Set<number>();
    for (const index of order) {
      const at = index * piece;
      await file.write(whole, at, Math.min(piece, whole.length - at), at);
      written.add(index);
      let contiguous = 0;
      while (written.has(contiguous / piece) && contiguous < whole.length) contiguous = Math.min(whole.length, contiguous + piece);
      growing.grew(contiguous);
    }
    await file.close();
    growing.end();
    const { header, pack } = await reading;
    expect(header.length).toBe(Buffer.byteLength(HEADER));
    expect(pack.equals(body)).toBe(true);
    expect(growing.read).toEqual({ sha256: createHash('sha256').update(whole).digest('hex'), bytes: whole.length });
  });
});
