/**
 * GrowingFile: a bundle read while another writer still appends to it — header first, then the pack's
 * bytes exactly as written; a writer that gives up ends the read short; a file never written fails;
 * a pre-sized file filled out of order (the parallel download) is read only below its watermark, and
 * git index-pack indexes a real bundle that way while download() fetches it from the local OSS store.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { download } from '../../../src/client/download.js';
import { indexPack } from '../../../src/client/remote-helper/bundle-apply.js';
import { GrowingFile } from '../../../src/client/remote-helper/follow.js';
import { startOssServer } from '../../../src/local/oss/index.js';
import { git } from '../../helpers/fixtures.js';
import { clientOf, KEY, pathClientOf, signedGet } from '../../local/_oss.js';

let temp: string;

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'ferry-follow-'));
});

const savedGitDir = process.env.GIT_DIR;

afterAll(async () => {
  if (savedGitDir === undefined) delete process.env.GIT_DIR;
  else process.env.GIT_DIR = savedGitDir;
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

  it('lets index-pack index a multi-MiB bundle while the parallel download fills it', async () => {
    // A repository whose one commit holds 6 MiB that do not compress: its bundle takes several pieces.
    const source = join(temp, 'source');
    await git(['init', '--quiet', source]);
    await writeFile(join(source, 'blob.bin'), randomBytes(6 * 1024 * 1024));
    await git(['-C', source, 'add', 'blob.bin']);
    await git(['-C', source, '-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '--quiet', '-m', 'big']);
    const commit = (await git(['-C', source, 'rev-parse', 'HEAD'])).trim();
    const bundlePath = join(temp, 'big.bundle');
    await git(['-C', source, 'bundle', 'create', '-q', bundlePath, '--all']);
    const bundle = await readFile(bundlePath);
    const sha256 = createHash('sha256').update(bundle).digest('hex');

    const oss = await startOssServer({ dataDir: join(temp, 'oss'), credentials: [KEY], buckets: ['ferry-follow'] });
    try {
      await clientOf(oss, 'ferry-follow').put('big.bundle', bundle);
      const url = await signedGet(pathClientOf(oss, 'ferry-follow'), 'big.bundle');
      const target = join(temp, 'target.git');
      await git(['init', '--quiet', '--bare', target]);
      // The helper runs in the repository git started it for: GIT_DIR, as git exports it to helpers.
      process.env.GIT_DIR = target;
      const dest = join(temp, 'downloaded.bundle');
      const growing = new GrowingFile(`${dest}.part`, dest, { watermark: true });
      const following = growing.bundle((header, pack) => indexPack(header, pack, join(target, 'objects', 'pack'), { verbose: false, checkConnected: true }));
      let connections = 0;
      await download({
        url, dest, sha256, size: bundle.length,
        onProgress: (progress) => {
          connections = Math.max(connections, progress.connections);
          growing.grew(progress.contiguous);
        },
      });
      growing.end();
      const applied = await following;
      expect(connections).toBeGreaterThan(1);
      expect(growing.read).toEqual({ sha256, bytes: bundle.length });
      expect(applied.connected).toBe(true);
      await git(['--git-dir', target, 'cat-file', '-e', `${commit}:blob.bin`]);
    } finally {
      await oss.close();
    }
  });
});
