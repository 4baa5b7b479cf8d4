import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/worker/config.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { RefsCache } from '../../../src/worker/git/refs-cache.js';
import type { Dispatcher } from '../../../src/worker/jobs/dispatch.js';
import { bindSpec, parseJobRequest } from '../../../src/worker/jobs/request.js';
import { JobStateStore } from '../../../src/worker/jobs/state-store.js';
import { createSubmit } from '../../../src/worker/jobs/submit.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { MemoryStore } from '../fakes.js';

// POST /jobs bodies of kind `file`, checked before anything reaches upstream: no server is needed, because
// a refused body never gets that far, and a release asset (immutable) with no cache entry makes a job
// without asking upstream.

const config = loadConfig({ FERRY_FILE_HOSTS: 'files.example.com' });
const ASSET = 'https://github.com/owner/tool/releases/download/v1.2.0/tool-linux-amd64.tar.gz';

function setup() {
  const specs: JobSpec[] = [];
  const dispatcher: Dispatcher = { dispatch: async (spec) => void specs.push(spec) };
  const git = createGitContext({ allowHttp: false, timeoutMs: 1000 });
  const store = new MemoryStore();
  const submit = createSubmit({ config, states: new JobStateStore(), dispatcher, notifier: undefined, storeFor: () => store, git, refs: new RefsCache({ git }) });
  return { submit, specs };
}

describe('a file job request', () => {
  it('is queued with the URL as normalised, format file, and the revision the URL names', async () => {
    const { submit, specs } = setup();
    const submitted = await submit({ body: { kind: 'file', url: ASSET, deviceId: 'device-1' } });
    expect(submitted).toMatchObject({ outcome: 'queued', state: { kind: 'file', status: 'queued', repo: ASSET, format: 'file', ref: 'v1.2.0', commit: '' } });
    expect(specs).toEqual([expect.objectContaining({ kind: 'file', repo: ASSET, format: 'file', deviceId: 'device-1' })]);
    expect(specs[0]).not.toHaveProperty('refs');
  });

  it('refuses ref, format, refs and have, naming them', async () => {
    const { submit } = setup();
    for (const extra of [{ ref: 'main' }, { format: 'zip' }, { format: 'file' }, { refs: ['refs/heads/main'] }, { have: ['a'.repeat(40)] }]) {
      const field = Object.keys(extra)[0] as string;
      await expect(submit({ body: { kind: 'file', url: ASSET, ...extra } }), field).rejects.toMatchObject({
        code: 'BAD_REQUEST',
        status: 400,
        message: expect.stringContaining(`takes only \`url\``),
      });
      await expect(submit({ body: { kind: 'file', url: ASSET, ...extra } })).rejects.toThrow(`\`${field}\``);
    }
  });

  it('refuses a URL that names a repository, pointing at the archive and bundle kinds', async () => {
    const { submit } = setup();
    for (const url of ['https://github.com/owner/tool', 'https://github.com/owner/tool.git']) {
      await expect(submit({ body: { kind: 'file', url } }), url).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/names a repository.*"archive".*"bundle"/) });
    }
  });

  it('refuses a missing or non-string url, and URLs the parser refuses', async () => {
    const { submit } = setup();
    for (const url of [undefined, '', 42, ['https://files.example.com/a']]) {
      await expect(submit({ body: { kind: 'file', url } }), String(url)).rejects.toMatchObject({ code: 'INVALID_URL', message: expect.stringContaining('file URL') });
    }
    for (const url of ['https://user:token@files.example.com/a', 'ftp://files.example.com/a', `https://files.example.com/${'a'.repeat(2100)}`]) {
      await expect(submit({ body: { kind: 'file', url } }), url.slice(0, 60)).rejects.toMatchObject({ code: 'INVALID_URL', status: 400 });
    }
  });

  it('refuses a host on neither list with 403, saying how an operator allows it', async () => {
    const { submit } = setup();
    await expect(submit({ body: { kind: 'file', url: 'https://downloads.example.org/tool.zip' } })).rejects.toMatchObject({
      code: 'HOST_NOT_ALLOWED',
      status: 403,
      message: expect.stringMatching(/downloads\.example\.org.*FERRY_FILE_HOSTS/),
    });
  });

  it('refuses plain http unless FERRY_ALLOW_HTTP', async () => {
    const { submit } = setup();
    await expect(submit({ body: { kind: 'file', url: 'http://files.example.com/tool.zip' } })).rejects.toMatchObject({ code: 'INVALID_URL', message: expect.stringContaining('FERRY_ALLOW_HTTP') });
    const http = parseJobRequest({ kind: 'file', url: 'http://files.example.com/tool.zip' }, { ...config, allowHttp: true }, null);
    expect(http).toMatchObject({ target: { url: 'http://files.example.com/tool.zip', shape: 'plain' } });
  });

  it('takes any other file on an allowed host as a plain file', () => {
    expect(parseJobRequest({ kind: 'file', url: 'https://files.example.com/a/b.iso?x=1' }, config, null)).toMatchObject({
      target: { shape: 'plain', filename: 'b.iso', immutable: false },
    });
  });
});

describe('a file job event', () => {
  const spec = (repo: string): JobSpec => ({ jobId: 'file-job-1', kind: 'file', repo, ref: '', commit: '', format: 'file', createdAt: 1 });

  it('is checked again with the same parser and host policy', () => {
    expect(bindSpec(spec(ASSET), config)).toMatchObject({ phases: ['downloading'], resolved: ASSET });
    expect(() => bindSpec(spec('https://downloads.example.org/tool.zip'), config)).toThrow(expect.objectContaining({ code: 'HOST_NOT_ALLOWED' }));
    expect(() => bindSpec(spec('https://github.com/owner/tool'), config)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
});
