import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { DEFAULT_FILE_HOSTS } from '../../../src/protocol/file-url.js';
import type { JobSpec } from '../../../src/protocol/job.js';
import { loadConfig } from '../../../src/worker/config.js';
import { bindSpec, parseJobRequest } from '../../../src/worker/jobs/request.js';
import { parseRepoPatterns } from '../../../src/worker/repo-lists.js';
import { createWorker } from '../../../src/worker/worker.js';

// FERRY_ALLOWED_REPOS / FERRY_DENIED_REPOS for every kind, at submit and when a job event is bound. No network:
// every refusal here comes before any git or upstream request.

const HOSTS = 'github.com,gitlab.com,git.example.com';

function verdict(env: Record<string, string>, body: Record<string, unknown>): string {
  const config = loadConfig({ FERRY_ALLOWED_HOSTS: HOSTS, FERRY_FILE_HOSTS: [...DEFAULT_FILE_HOSTS, 'files.example.org'].join(','), FERRY_FORGES: 'git.example.com=gitlab', ...env });
  try {
    parseJobRequest(body, config, null);
    return 'ok';
  } catch (error) {
    const failure = error as FerryError;
    return failure.code === 'REPO_NOT_ALLOWED' ? `403 ${/FERRY_(ALLOWED|DENIED)_REPOS/.exec(failure.message)?.[0]}` : `${failure.status} ${failure.code}`;
  }
}

const ALLOW = 'FERRY_ALLOWED_REPOS';
const DENY = 'FERRY_DENIED_REPOS';
const archive = (url: string) => ({ url });
const bundle = (url: string) => ({ kind: 'bundle', url });
const file = (url: string) => ({ kind: 'file', url });

describe('repository lists', () => {
  it.each([
    // [env, body, expected]
    [{}, archive('github.com/acme/tool'), 'ok'],
    [{ [ALLOW]: 'acme' }, archive('https://github.com/acme/tool'), 'ok'],
    [{ [ALLOW]: 'acme' }, archive('https://github.com/other/tool'), '403 FERRY_ALLOWED_REPOS'],
    [{ [ALLOW]: 'acme/tool' }, archive('https://github.com/acme/other'), '403 FERRY_ALLOWED_REPOS'],
    [{ [ALLOW]: '*/tool' }, archive('https://github.com/anyone/tool'), 'ok'],
    [{ [ALLOW]: 'acme/*' }, archive('https://github.com/acme/x'), 'ok'],
    // GitHub names compare without case, and so do the lists everywhere.
    [{ [ALLOW]: 'ACME/Tool' }, archive('https://GitHub.com/acme/TOOL.git'), 'ok'],
    [{ [DENY]: 'acme/tool' }, archive('https://github.com/Acme/Tool'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'acme' }, bundle('https://github.com/acme/anything'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: '*/secret' }, bundle('https://gitlab.com/a/secret'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: '*/secret' }, bundle('https://gitlab.com/a/public'), 'ok'],
    // Deny wins over allow.
    [{ [ALLOW]: 'acme', [DENY]: 'acme/secret' }, archive('https://github.com/acme/secret'), '403 FERRY_DENIED_REPOS'],
    [{ [ALLOW]: 'acme', [DENY]: 'acme/secret' }, archive('https://github.com/acme/open'), 'ok'],
    // Without a host a pattern applies to every allowed host; with one, only to it.
    [{ [ALLOW]: 'acme' }, archive('https://gitlab.com/acme/tool'), 'ok'],
    [{ [ALLOW]: 'github.com/acme/*' }, archive('https://gitlab.com/acme/tool'), '403 FERRY_ALLOWED_REPOS'],
    [{ [ALLOW]: 'github.com/acme/*' }, archive('https://github.com/acme/tool'), 'ok'],
    [{ [DENY]: 'gitlab.com/*/tool' }, archive('https://github.com/acme/tool'), 'ok'],
    // GitLab's subgroups: the owner is the first segment, the repository the last.
    [{ [ALLOW]: 'group/project' }, archive('https://gitlab.com/group/sub/project'), 'ok'],
    [{ [DENY]: 'group' }, archive('https://gitlab.com/group/sub/project'), '403 FERRY_DENIED_REPOS'],
    // The owner/repo shorthand and a /tree/ page name the same repository.
    [{ [DENY]: 'acme/tool' }, archive('acme/tool'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'acme/tool' }, archive('https://github.com/acme/tool/tree/main/src'), '403 FERRY_DENIED_REPOS'],
    // Files belong to the repository their URL names, on whichever of the forge's hosts.
    [{ [DENY]: 'acme/tool' }, file('https://github.com/acme/tool/releases/download/v1/tool.tgz'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'acme/tool' }, file('https://github.com/acme/tool/blob/main/README.md'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'github.com/acme/tool' }, file('https://raw.githubusercontent.com/acme/tool/main/x.sh'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'acme/tool' }, file('https://codeload.github.com/acme/tool/tar.gz/refs/tags/v1'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'acme/tool' }, file('https://github.com/acme/tool/archive/refs/tags/v1.zip'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'group/project' }, file('https://gitlab.com/group/sub/project/-/raw/main/a.txt'), '403 FERRY_DENIED_REPOS'],
    [{ [DENY]: 'group' }, file('https://git.example.com/group/project/-/archive/v1/project-v1.tar.gz'), '403 FERRY_DENIED_REPOS'],
    [{ [ALLOW]: 'acme' }, file('https://github.com/acme/tool/releases/download/v1/tool.tgz'), 'ok'],
    [{ [ALLOW]: 'acme' }, file('https://github.com/other/tool/releases/download/v1/tool.tgz'), '403 FERRY_ALLOWED_REPOS'],
    // A gist is its user's: `user` patterns match it.
    [{ [DENY]: 'someone' }, file('https://gist.github.com/someone/0123456789abcdef'), '403 FERRY_DENIED_REPOS'],
    // A file on no repository's shape (a plain file on an allowed host): no deny entry can name it, and an
    // allow list, which means "only these repositories", refuses it.
    [{ [DENY]: 'acme' }, file('https://files.example.org/downloads/tool.tgz'), 'ok'],
    [{ [ALLOW]: 'acme' }, file('https://files.example.org/downloads/tool.tgz'), '403 FERRY_ALLOWED_REPOS'],
    // Other refusals keep their own codes, before the lists are read.
    [{ [ALLOW]: 'acme' }, archive('https://example.org/acme/tool'), '403 HOST_NOT_ALLOWED'],
  ])('%j: %j is %s', (env, body, expected) => {
    expect(verdict(env as Record<string, string>, body)).toBe(expected);
  });

  it('refuses with 403 REPO_NOT_ALLOWED, naming the list, the entry and the repository', () => {
    const config = loadConfig({ [ALLOW]: 'acme', [DENY]: 'acme/secret' });
    const denied = catching(() => parseJobRequest({ url: 'https://github.com/acme/secret' }, config, null));
    expect(denied).toMatchObject({ code: 'REPO_NOT_ALLOWED', status: 403 });
    expect(denied.message).toMatch(/https:\/\/github\.com\/acme\/secret is refused by this service's FERRY_DENIED_REPOS \(entry "acme\/secret"\)/);
    const missing = catching(() => parseJobRequest({ url: 'https://github.com/other/x' }, config, null));
    expect(missing.message).toMatch(/https:\/\/github\.com\/other\/x is not on this service's FERRY_ALLOWED_REPOS \(acme\)/);
  });

  it('never quotes a file URL\'s query (a presigned URL carries its signature there)', () => {
    const config = loadConfig({ FERRY_ALLOWED_HOSTS: 'git.example.com', [ALLOW]: 'acme' });
    const error = catching(() => parseJobRequest({ kind: 'file', url: 'https://git.example.com/x.bin?Signature=s3cr3t' }, config, null));
    expect(error.code).toBe('REPO_NOT_ALLOWED');
    expect(error.message).not.toContain('s3cr3t');
  });

  it('are checked again when a job event is bound, for every kind', () => {
    const config = loadConfig({ [DENY]: 'acme' });
    const spec = (kind: string, repo: string, format: JobSpec['format']): JobSpec => ({ jobId: 'job-1234', kind, repo, ref: 'main', commit: 'a'.repeat(40), format, createdAt: 1 });
    for (const job of [
      spec('archive', 'https://github.com/acme/tool', 'zip'),
      spec('bundle', 'https://github.com/acme/tool', 'bundle'),
      spec('file', 'https://raw.githubusercontent.com/acme/tool/main/x.sh', 'file'),
    ]) {
      expect(() => bindSpec(job, config)).toThrow(expect.objectContaining({ code: 'REPO_NOT_ALLOWED' }));
    }
    expect(bindSpec(spec('archive', 'https://github.com/other/tool', 'zip'), config).resolved).toMatch(/^main/);
  });

  it('answer the API (POST /jobs and GET /refs) with 403 JSON before any network', async () => {
    const worker = createWorker(loadConfig({ [DENY]: 'acme/tool' }), () => undefined);
    const post = await worker.api(new Request('http://worker/jobs', { method: 'POST', body: JSON.stringify({ url: 'https://github.com/acme/tool' }) }));
    expect(post.status).toBe(403);
    expect(await post.json()).toMatchObject({ code: 'REPO_NOT_ALLOWED', message: expect.stringMatching(/FERRY_DENIED_REPOS/) });
    const refs = await worker.api(new Request(`http://worker/refs?url=${encodeURIComponent('https://github.com/acme/tool')}`));
    expect(refs.status).toBe(403);
    expect(await refs.json()).toMatchObject({ code: 'REPO_NOT_ALLOWED' });
  });

  it.each([
    ['acme', [{ owner: 'acme', repo: '*' }]],
    ['acme/tool, */x', [{ owner: 'acme', repo: 'tool' }, { owner: '*', repo: 'x' }]],
    ['GitHub.com/Acme/*', [{ host: 'github.com', owner: 'acme', repo: '*' }]],
    ['git.example.com:8443/a/b', [{ host: 'git.example.com:8443', owner: 'a', repo: 'b' }]],
  ])('parses %j', (value, patterns) => {
    expect(parseRepoPatterns(ALLOW, value)).toMatchObject(patterns);
  });

  it.each(['*', '*/*', 'a/b/c/d', 'a b', 'a/', '/b', 'owner/re po', 'host_/a/b', 'a/b?'])('stops the worker at start on %j, naming the variable', (value) => {
    expect(() => loadConfig({ [DENY]: value })).toThrow(/FERRY_DENIED_REPOS.*owner\/repo/);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ [ALLOW]: ' ', [DENY]: '' }).repoLists).toEqual({ allowed: undefined, denied: [] });
  });
});

function catching(run: () => unknown): FerryError {
  try {
    run();
  } catch (error) {
    return error as FerryError;
  }
  throw new Error('accepted');
}
