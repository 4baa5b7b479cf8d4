import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import type { LocalCredentials } from '../../src/local/credentials.js';
import { runFerry, type FerryRun } from '../helpers/ferry-cli.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { startFileUpstream, type FileUpstream } from '../helpers/file-upstream.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';

// Issue 13, "secrets stay secret": jobs run end to end through the real local stack (gateway with APP signatures,
// FC emulator, worker process, OSS store) and `ferry get` as a process; then everything the processes wrote is
// searched for every secret they were given, and the logs for signed-URL signatures. Needs `npm run build`.

let git: GitServer;
let files: FileUpstream;
/** The signatures of the presigned file URLs the jobs are given: a user's capability, never to be logged. */
// A private repository's token (the second git server answers 401 without it), sent by ferry get from FERRY_GIT_TOKEN.
const GIT_TOKEN = 'ghp_SecretsTestPrivateT0ken0123456789abcd';
const UPSTREAM_SIGNATURES = ['0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978', 'QmFzZTY0U2lnbmF0dXJlT2ZBVXNlcg'];
let dataDir: string;
let outDir: string;
let stack: LocalStack;
let secrets: Record<string, string>;
let privateGit: GitServer;
const stackLog: string[] = [];
const runs: Array<{ name: string; run: FerryRun }> = [];

beforeAll(async () => {
  git = await startGitServer({ root: await fixtureRoot() });
  privateGit = await startGitServer({ root: await fixtureRoot(), auth: { owner: 'fixtures', password: GIT_TOKEN } });
  files = await startFileUpstream();
  files.serve('/o/r/releases/download/v1/app.bin', { body: Buffer.from('a release asset\n') });
  dataDir = await mkdtemp(join(tmpdir(), 'ferry-secrets-'));
  outDir = await mkdtemp(join(tmpdir(), 'ferry-secrets-out-'));
  stack = await startLocalStack({ dataDir, allowHosts: [git.host, privateGit.host, new URL(files.url('/')).host], allowHttp: true, requireSignature: true, log: (line) => stackLog.push(line) });
  const credentials = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as LocalCredentials;
  secrets = {
    'app secret': credentials.appSecret,
    'OSS AccessKey secret': credentials.accessKey.accessKeySecret,
    'dispatch secret': credentials.dispatchSecret,
    // As the stack derives it (src/local/stack.ts): the header API Gateway's backend adds.
    'gateway secret': createHmac('sha256', credentials.dispatchSecret).update('gateway').digest('hex'),
    'git token': GIT_TOKEN,
    // As the worker hands it to git (an http.extraHeader) and to the git server.
    'git token as basic auth': Buffer.from(`x-access-token:${GIT_TOKEN}`).toString('base64'),
  };
  const repo = `${git.url}/fixtures/basic`;
  const signed = ['--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret];
  const get = async (name: string, args: string[]): Promise<void> => {
    runs.push({ name, run: await runFerry(['get', ...args, ...signed], { cwd: outDir }) });
  };
  await get('an archive, --json', [repo, '--format', 'tar.gz', '-o', join(outDir, 'basic.tar.gz'), '--json']);
  await get('the same archive again (a cache hit), with progress on stderr', [repo, '--format', 'tar.gz', '-o', join(outDir, 'again.tar.gz')]);
  await get('a zip, extracted', [repo, '--ref', 'v1.0.0', '--extract', join(outDir, 'extracted')]);
  await get('an unknown ref (an error)', [repo, '--ref', 'no-such-branch']);
  await get('an unknown commit (an error)', [repo, '--ref', 'f'.repeat(40)]);
  // Presigned URLs (S3's and OSS's spellings) as users pass them: one served, one the upstream does not have.
  const presigned = (path: string): string => `${files.url(path)}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=${UPSTREAM_SIGNATURES[0]}&OSSAccessKeyId=LTAIuser&Signature=${UPSTREAM_SIGNATURES[1]}`;
  await get('a file at a presigned URL', ['--file', presigned('/o/r/releases/download/v1/app.bin'), '-o', join(outDir, 'app.bin')]);
  await get('a presigned URL the upstream does not have (an error)', ['--file', presigned('/o/r/releases/download/v1/missing.bin'), '-o', join(outDir, 'missing.bin')]);
  runs.push({ name: 'a private repository with a token', run: await runFerry(['get', `${privateGit.url}/fixtures/basic`, '-o', join(outDir, 'private.tar.gz'), '--format', 'tar.gz', ...signed], { cwd: outDir, env: { FERRY_GIT_TOKEN: GIT_TOKEN } }) });
  // A wrong secret: the gateway's refusal must not echo what it expected.
  runs.push({ name: 'a wrong app secret', run: await runFerry(['get', repo, '--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', 'wrong-secret-0123456789'], { cwd: outDir }) });
}, 240_000);

afterAll(async () => {
  await stack?.close();
  await git?.close();
  await privateGit?.close();
  await files?.close();
  for (const dir of [dataDir, outDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every file under `dir`, as text (binary files too: a secret would show as its bytes). */
async function filesUnder(dir: string): Promise<Array<{ name: string; text: string }>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  return Promise.all(files.map(async (file) => ({ name: relative(dir, file), text: await readFile(file, 'latin1') })));
}

/** A signed URL's signature, as OSS V1 (`Signature=`) and V4 (`x-oss-signature=`) spell it, with a value. */
const SIGNATURE = /(?:[?&]Signature=|x-oss-signature=)(?!REDACTED|\*)[^&\s"'<>]+/i;

describe('secrets stay secret', () => {
  it('ran the jobs it greps after: downloads done, errors refused', () => {
    const byName = Object.fromEntries(runs.map(({ name, run }) => [name, run.code]));
    expect(byName).toMatchObject({ 'an archive, --json': 0, 'the same archive again (a cache hit), with progress on stderr': 0, 'a zip, extracted': 0, 'a file at a presigned URL': 0, 'a private repository with a token': 0 });
    for (const name of ['an unknown ref (an error)', 'an unknown commit (an error)', 'a presigned URL the upstream does not have (an error)', 'a wrong app secret']) {
      expect(byName[name]).not.toBe(0);
    }
    // The --json run did see a signed URL: what the signature check below looks for exists.
    expect(runs[0]?.run.stdout).toMatch(SIGNATURE);
  });

  it('writes no secret to the CLI output, the stack log, or any file in the data dir', async () => {
    // The credentials file is where the secrets live (mode 0600): everything else is searched.
    const files = (await filesUnder(dataDir)).filter((file) => file.name !== 'credentials.json');
    // Job states are among them (the store names files by a hash; the key is in each object's record).
    expect(files.some((file) => file.text.includes('"jobs/'))).toBe(true);
    const places = [
      { name: 'the stack log', text: stackLog.join('\n') },
      ...runs.flatMap(({ name, run }) => [
        { name: `stdout of ferry get: ${name}`, text: run.stdout },
        { name: `stderr of ferry get: ${name}`, text: run.stderr },
      ]),
      ...files.map((file) => ({ name: `data dir file ${file.name}`, text: file.text })),
    ];
    const leaks = Object.entries(secrets).flatMap(([secret, value]) => places.filter((place) => place.text.includes(value)).map((place) => `${secret} in ${place.name}`));
    expect(leaks).toEqual([]);
  });

  // The logs are the stack's: gateway, FC emulator, the worker's stdout and stderr. The CLI's own stderr is not
  // searched here: its closing `next: curl '<signed URL>'` hint hands the user the link they asked for.
  it('logs no signed-URL signature', () => {
    expect(stackLog.some((line) => /ferry worker .* listening on /.test(line))).toBe(true);
    expect(stackLog.filter((line) => SIGNATURE.test(line) || UPSTREAM_SIGNATURES.some((signature) => line.includes(signature)))).toEqual([]);
  });
});
