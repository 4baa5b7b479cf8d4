import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobMessage, ProgressMessage } from '../../../src/protocol/job.js';
import { generatedSha256, startFileUpstream, type FileUpstream } from '../../helpers/file-upstream.js';
import { waitFor } from '../../helpers/wait.js';
import { downloaded, fileDone, fileError, startFileStack, type FileStack } from './_file-stack.js';

// File jobs end to end: the local server playing GitHub (test/helpers/file-upstream.ts) as github.com on
// 127.0.0.1 (its URL shapes through FERRY_FORGES) and as the release assets' second host on localhost, the
// submit path and a real runner, the local OSS store through ali-oss.

const MiB = 1024 * 1024;
let github: FileUpstream;
let assets: FileUpstream;
let stack: FileStack;

beforeAll(async () => {
  github = await startFileUpstream();
  assets = await startFileUpstream({ hostname: 'localhost' });
  stack = await startFileStack(envFor([github, assets]));
});

afterAll(async () => {
  await stack?.close();
  await github?.close();
  await assets?.close();
});

function envFor(hosts: FileUpstream[], extra: Record<string, string> = {}): Record<string, string> {
  return { FERRY_FILE_HOSTS: hosts.map((host) => host.host).join(','), FERRY_FORGES: `${github.host}=github`, ...extra };
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');
const progressOf = (messages: JobMessage[], phase: string): ProgressMessage[] =>
  messages.filter((message): message is ProgressMessage => message.type === 'progress' && message.phase === phase);
/** Phases in the order they were first reached, then the outcome. */
const phasesOf = (messages: JobMessage[]): string[] =>
  messages.map((message) => (message.type === 'progress' ? message.phase : message.type)).filter((phase, i, all) => all.indexOf(phase) === i);

/** A release asset on `github` that redirects to `assets`, as GitHub's do. */
function releaseAsset(name: string, spec: Parameters<FileUpstream['serve']>[1]): { url: string; page: string; asset: string } {
  const page = `/o/tool/releases/download/v1.0/${name}`;
  const asset = `/assets/${name}`;
  assets.serve(asset, spec);
  github.redirect(page, assets.url(`${asset}?token=signed`));
  return { url: github.url(page), page, asset };
}

describe('a file job', () => {
  it('streams a release asset through its redirect into OSS: the bytes, their sha256, the upstream name and type; a repeat comes from the cache without asking upstream', async () => {
    const size = 3 * MiB + 123;
    const file = releaseAsset('tool.tar', { size, seed: 1, contentType: 'application/x-tar', contentDisposition: 'attachment; filename="tool-1.0-linux.tar"' });
    const job = await stack.submit(file.url);
    expect(job.submission.outcome).toBe('queued');
    expect(job.submission.state).toMatchObject({ kind: 'file', repo: file.url, format: 'file', ref: 'v1.0', commit: '' });
    const done = await fileDone(job);
    expect(done).toMatchObject({ format: 'file', filename: 'tool-1.0-linux.tar', size, sha256: generatedSha256(size, 1), ref: 'v1.0', commit: '', cached: false });

    const response = await fetch(done.url);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(sha256(bytes)).toBe(done.sha256);
    expect(response.headers.get('content-type')).toBe('application/x-tar');
    expect(response.headers.get('content-disposition')).toContain('filename="tool-1.0-linux.tar"');

    expect(phasesOf(job.messages)).toEqual(['queued', 'resolving', 'downloading', 'uploading', 'signing', 'done']);
    const counted = progressOf(job.messages, 'downloading').filter((message) => message.total !== undefined);
    expect(counted.length).toBeGreaterThan(0);
    for (const message of counted) expect(message).toMatchObject({ total: size, percent: expect.any(Number) });

    const before = { page: github.count(file.page), asset: assets.count(file.asset) };
    expect(before).toEqual({ page: 1, asset: 1 });
    const again = await stack.submit(file.url);
    expect(again.submission.outcome).toBe('cached');
    expect(await fileDone(again)).toMatchObject({ sha256: done.sha256, filename: 'tool-1.0-linux.tar', cached: true });
    expect({ page: github.count(file.page), asset: assets.count(file.asset) }).toEqual(before);
  });

  it('refuses a redirect to a host that is not allowed, naming it and the host that sent it there', async () => {
    const refusing = await startFileStack(envFor([github]));
    try {
      const file = releaseAsset('elsewhere.bin', { size: 1000 });
      const error = await fileError(refusing.submit(file.url));
      expect(error).toMatchObject({ code: 'HOST_NOT_ALLOWED', message: expect.stringContaining(assets.host) });
      expect(error.message).toContain(`${github.host} redirected there`);
      expect(error.message).toContain('FERRY_FILE_HOSTS');
      expect(assets.count(file.asset)).toBe(0);
    } finally {
      await refusing.close();
    }
  });

  it('revalidates a raw file on a branch with its ETag: unchanged, a 304 answers from the cache with no job; changed, it is fetched again', async () => {
    const path = '/o/tool/raw/main/docs/README.md';
    github.serve(path, { body: Buffer.from('# version one\n'), contentType: 'text/markdown' });
    const first = await fileDone(await stack.submit(github.url(path)));
    expect(first).toMatchObject({ filename: 'README.md', cached: false, ref: '', commit: '' });
    expect((await downloaded(first)).toString()).toBe('# version one\n');

    const unchanged = await stack.submit(github.url(path));
    expect(unchanged.submission.outcome).toBe('cached');
    expect(await fileDone(unchanged)).toMatchObject({ sha256: first.sha256, cached: true });
    const revalidation = github.requests(path).at(-1);
    expect(github.count(path)).toBe(2);
    expect(revalidation?.headers['if-none-match']).toMatch(/^"/);

    github.serve(path, { body: Buffer.from('# version two, longer\n') });
    const changed = await stack.submit(github.url(path));
    expect(changed.submission.outcome).toBe('queued');
    const second = await fileDone(changed);
    expect(second).toMatchObject({ cached: false, sha256: sha256(Buffer.from('# version two, longer\n')) });
    expect((await downloaded(second)).toString()).toBe('# version two, longer\n');
    expect(second.url).not.toBe(first.url);
  });

  it('revalidates a file that has only Last-Modified with If-Modified-Since', async () => {
    const path = '/files/dated.txt';
    assets.serve(path, { body: Buffer.from('dated'), etag: false });
    expect(await fileDone(await stack.submit(assets.url(path)))).toMatchObject({ cached: false });
    const again = await stack.submit(assets.url(path));
    expect(again.submission.outcome).toBe('cached');
    const revalidation = assets.requests(path).at(-1);
    expect(revalidation?.headers['if-modified-since']).toBeDefined();
    expect(revalidation?.headers['if-none-match']).toBeUndefined();
  });

  it('fetches a file with neither ETag nor Last-Modified again for every request: nothing tells its versions apart', async () => {
    const path = '/files/unversioned.txt';
    assets.serve(path, { body: Buffer.from('one'), etag: false, lastModified: false });
    const first = await fileDone(await stack.submit(assets.url(path)));
    assets.serve(path, { body: Buffer.from('two'), etag: false, lastModified: false });
    const second = await fileDone(await stack.submit(assets.url(path)));
    expect(second).toMatchObject({ cached: false });
    expect((await downloaded(first)).toString()).toBe('one');
    expect((await downloaded(second)).toString()).toBe('two');
    expect(assets.requests(path).every((request) => request.headers['if-none-match'] === undefined && request.headers['if-modified-since'] === undefined)).toBe(true);
  });

  it('as a job event, checks its URL again, and its build asks upstream conditionally: a 304 serves the cached copy', async () => {
    expect((await (await stack.run('https://downloads.example.org/tool.zip')).outcome)?.state.error).toMatchObject({ code: 'HOST_NOT_ALLOWED' });

    const path = '/o/tool/raw/main/event.txt';
    github.serve(path, { body: Buffer.from('event') });
    const first = await fileDone(await stack.run(github.url(path)));
    const repeat = await stack.run(github.url(path));
    expect(await fileDone(repeat)).toMatchObject({ cached: true, sha256: first.sha256 });
    expect(phasesOf(repeat.messages)).toEqual(['queued', 'resolving', 'downloading', 'signing', 'done']);
    expect(github.requests(path).at(-1)?.headers['if-none-match']).toMatch(/^"/);
  });

  it('resumes an upstream cut at byte N from N, and the stored bytes are whole', async () => {
    const size = 2 * MiB + 7;
    assets.serve('/files/cut.bin', { size, seed: 3 });
    assets.cut('/files/cut.bin', 700_000);
    const job = await stack.submit(assets.url('/files/cut.bin'));
    const done = await fileDone(job);
    expect(done).toMatchObject({ size, sha256: generatedSha256(size, 3), filename: 'cut.bin' });
    expect(sha256(await downloaded(done))).toBe(done.sha256);
    const resumed = assets.requests('/files/cut.bin').at(-1);
    expect(resumed?.headers.range).toBe('bytes=700000-');
    expect(progressOf(job.messages, 'downloading').some((message) => message.message?.includes('resuming at byte 700000'))).toBe(true);
  });

  it('does not stitch a file that changed between the cut and the resume: the job fails and nothing is cached', async () => {
    assets.serve('/files/moving.bin', { size: 2 * MiB, seed: 4 });
    assets.cut('/files/moving.bin', 500_000, { thenServe: { size: 2 * MiB, seed: 5 } });
    const error = await fileError(stack.submit(assets.url('/files/moving.bin')));
    expect(error).toMatchObject({ code: 'UPSTREAM_CHANGED' });
    expect(await stack.openUploads()).toBe(0);
    // Asked again, the new file comes whole.
    const done = await fileDone(await stack.submit(assets.url('/files/moving.bin')));
    expect(done.sha256).toBe(generatedSha256(2 * MiB, 5));
  });

  it('takes a file without Content-Length: bytes without total or percent while downloading', async () => {
    const size = MiB + 5;
    assets.serve('/files/streamed.bin', { size, seed: 6, chunked: true });
    const job = await stack.submit(assets.url('/files/streamed.bin'));
    const done = await fileDone(job);
    expect(done).toMatchObject({ size, sha256: generatedSha256(size, 6) });
    const downloading = progressOf(job.messages, 'downloading');
    expect(downloading.length).toBeGreaterThan(0);
    for (const message of downloading) {
      expect(message.total).toBeUndefined();
      expect(message.percent).toBeUndefined();
    }
  });

  it('makes one upstream download for 20 concurrent jobs of one asset, and of one mutable file', async () => {
    const size = 2 * MiB + 1;
    const asset = releaseAsset('popular.zip', { size, seed: 7 });
    assets.serve('/files/popular.txt', { size: 300_000, seed: 8 });
    for (const [url, expected, count] of [
      [asset.url, generatedSha256(size, 7), () => assets.count(asset.asset)],
      [assets.url('/files/popular.txt'), generatedSha256(300_000, 8), () => assets.count('/files/popular.txt')],
    ] as const) {
      const jobs = await Promise.all(Array.from({ length: 20 }, () => stack.submit(url)));
      const results = await Promise.all(jobs.map((job) => fileDone(job)));
      for (const result of results) expect(result.sha256).toBe(expected);
      expect(count(), url).toBe(1);
      expect(results.filter((result) => !result.cached)).toHaveLength(1);
    }
  });
});

describe('a file job stopped while it downloads', () => {
  it('stores nothing: the cut-short body is not taken for the whole file', async () => {
    const stopping = await startFileStack(envFor([github, assets]));
    try {
      const path = '/files/stopped.bin';
      assets.serve(path, { size: 3 * MiB, chunked: true });
      assets.cut(path, 1.5 * MiB, { mode: 'stall' });
      const job = await stopping.run(assets.url(path));
      // Its first part (1 MiB) is in the store: the job is mid-file, waiting on the silent upstream.
      await waitFor(async () => (await stopping.openUploads()) > 0, 30_000, 'a multipart upload under way');
      await stopping.abort();
      expect((await job.outcome)?.state).toMatchObject({ status: 'error', error: { code: 'WORKER_STOPPING' } });
      expect((await stopping.store.list('files/')).map((object) => object.key)).toEqual([]);
      expect(await stopping.openUploads()).toBe(0);
    } finally {
      await stopping.close();
    }
  });
});

describe('a file too large for FERRY_MAX_FILE_BYTES', () => {
  it('is refused from its Content-Length before anything is uploaded, and cut off while streaming without one: no object, no multipart upload left', async () => {
    const small = await startFileStack(envFor([github, assets], { FERRY_MAX_FILE_BYTES: String(1.5 * MiB) }));
    try {
      assets.serve('/files/large.bin', { size: 3 * MiB });
      const announced = await fileError(small.submit(assets.url('/files/large.bin')));
      expect(announced).toMatchObject({ code: 'TOO_LARGE', message: expect.stringContaining('FERRY_MAX_FILE_BYTES') });

      assets.serve('/files/large-chunked.bin', { size: 3 * MiB, chunked: true });
      const streamed = await fileError(small.submit(assets.url('/files/large-chunked.bin')));
      expect(streamed).toMatchObject({ code: 'TOO_LARGE' });

      expect((await small.store.list('files/')).map((object) => object.key)).toEqual([]);
      expect(await small.openUploads()).toBe(0);
    } finally {
      await small.close();
    }
  });
});
