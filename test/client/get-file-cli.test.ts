/**
 * `ferry get` of files end to end: the CLI as a child process against a running local stack (gateway, FC
 * emulator running the built worker, OSS store) and a local HTTP server playing GitHub, aliased as a GitHub
 * host through FERRY_FORGES so its release-asset and /blob/ shapes mean what they do on github.com. A second
 * server on `localhost` plays the host release assets redirect to.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as createTar } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { generatedSha256, startFileUpstream, type FileUpstream } from '../helpers/file-upstream.js';
import { phaseSequence } from './cli-helper.js';

let work: string;
let github: FileUpstream;
let assets: FileUpstream;
let stack: LocalStack;

const gatewayArgs = (): string[] => ['--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret];
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ferry-get-file-'));
  github = await startFileUpstream();
  assets = await startFileUpstream({ hostname: 'localhost' });
  stack = await startLocalStack({
    dataDir: join(work, 'stack'),
    port: 0,
    allowHosts: [github.host, assets.host],
    allowHttp: true,
    requireSignature: true,
    workerEnv: { FERRY_FORGES: `${github.host}=github` },
  });
});

afterAll(async () => {
  await stack?.close();
  await github?.close();
  await assets?.close();
  await rm(work, { recursive: true, force: true });
});

describe('ferry get <file URL>', () => {
  it('a release asset: followed to its second host, saved under its name, sha256 checked; the second get is a cache hit that asks upstream nothing', async () => {
    const size = 3 * 1024 * 1024 + 17;
    assets.serve('/asset/42', { size, seed: 7, contentType: 'application/octet-stream' });
    github.redirect('/o/r/releases/download/v1.0/tool-linux.bin', assets.url('/asset/42'));
    const url = github.url('/o/r/releases/download/v1.0/tool-linux.bin');
    const output = join(work, 'tool.bin');

    const run = await runFerry(['get', url, '--file', ...gatewayArgs(), '--json', '-o', output]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.events.slice(0, 2)).toMatchObject([{ type: 'connecting' }, { type: 'submitted', format: 'file' }]);
    expect(phaseSequence(run.events)).toContain('downloading');
    const done = run.events.find((e) => e.type === 'done')!;
    expect(done).toMatchObject({ format: 'file', filename: 'tool-linux.bin', size, sha256: generatedSha256(size, 7), cached: false, ref: 'v1.0' });
    expect(run.events.find((e) => e.type === 'saved')).toMatchObject({ path: output, size, sha256: generatedSha256(size, 7) });
    expect(sha256(await readFile(output))).toBe(generatedSha256(size, 7));

    const before = { github: github.count('/o/r/releases/download/v1.0/tool-linux.bin'), assets: assets.count('/asset/42') };
    const again = await runFerry(['get', url, '--file', ...gatewayArgs(), '--json', '-o', join(work, 'tool-again.bin')]);
    expect(again.code).toBe(0);
    expect(again.events.find((e) => e.type === 'done')).toMatchObject({ cached: true, sha256: generatedSha256(size, 7) });
    // An immutable release asset: served from the cache without a request upstream.
    expect({ github: github.count('/o/r/releases/download/v1.0/tool-linux.bin'), assets: assets.count('/asset/42') }).toEqual(before);
  });

  it('a /blob/ link is fetched as the raw file, saved in the working directory under its own name', async () => {
    const body = Buffer.from('# readme\n\nhello from a branch file\n');
    github.serve('/o/r/raw/main/docs/README.md', { body, contentType: 'text/markdown' });
    const cwd = join(work, 'blob');
    await mkdir(cwd);
    const run = await runFerry(['get', github.url('/o/r/blob/main/docs/README.md'), '--file', ...gatewayArgs()], { cwd });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(join(cwd, 'README.md'));
    expect(await readFile(join(cwd, 'README.md'))).toEqual(body);
    expect(run.stderr).toMatch(new RegExp(`sha256 ${sha256(body)}`));
  });

  it('--extract unpacks a .tar.gz source archive without its top-level folder', async () => {
    const source = join(work, 'src-tree');
    await mkdir(join(source, 'r-1.2.0/lib'), { recursive: true });
    await writeFile(join(source, 'r-1.2.0/lib/index.js'), 'export const x = 1;\n');
    await writeFile(join(source, 'r-1.2.0/package.json'), '{"name":"r"}\n');
    const tarball = join(work, 'r-1.2.0.tar.gz');
    await createTar({ gzip: true, file: tarball, cwd: source, portable: true }, ['r-1.2.0']);
    github.serve('/o/r/archive/refs/tags/v1.2.0.tar.gz', { body: await readFile(tarball), contentType: 'application/gzip' });

    const dir = join(work, 'extracted');
    const run = await runFerry(['get', github.url('/o/r/archive/refs/tags/v1.2.0.tar.gz'), '--file', ...gatewayArgs(), '--extract', dir]);
    expect(run.stderr).toMatch(/sha256/);
    expect(run.code).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(['lib', 'package.json']);
    expect(await readFile(join(dir, 'lib/index.js'), 'utf8')).toBe('export const x = 1;\n');
  });

  it('a redirect to a host the worker does not allow fails the job with HOST_NOT_ALLOWED, and that host is never asked', async () => {
    const stranger = await startFileUpstream();
    try {
      stranger.serve('/payload', { body: Buffer.from('not for you') });
      // 127.0.0.1 on another port: a host:port the stack does not allow.
      github.redirect('/o/r/releases/download/v2/evil.bin', stranger.url('/payload'));
      const run = await runFerry(['get', github.url('/o/r/releases/download/v2/evil.bin'), '--file', ...gatewayArgs(), '--json', '-o', join(work, 'evil.bin')]);
      expect(run.code).toBe(1);
      expect(run.events.at(-1)).toMatchObject({ type: 'failed', code: 'HOST_NOT_ALLOWED' });
      expect(stranger.count('/payload')).toBe(0);
    } finally {
      await stranger.close();
    }
  });
});
