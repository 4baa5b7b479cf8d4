/**
 * `ferry get` of a private repository as a child process against a running local stack (real gateway, FC
 * emulator running the built worker, OSS store) and the real git server with basic auth on owner `fixtures`:
 * the token comes from FERRY_GIT_TOKEN and reaches the git host, and nothing the stack wrote holds it.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';

const TOKEN = 'ghp_CliPrivateT0kenForTests0123456789abc';
let work: string;
let gitServer: GitServer;
let stack: LocalStack;
let repoUrl: string;
let main: string;
const seen: string[] = [];

const gatewayArgs = (): string[] => ['--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret];

beforeAll(async () => {
  const root = await fixtureRoot();
  work = await mkdtemp(join(tmpdir(), 'ferry-get-private-'));
  gitServer = await startGitServer({ root, auth: { owner: 'fixtures', password: TOKEN }, onAuthorization: (value) => seen.push(value) });
  stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: [gitServer.host], allowHttp: true, requireSignature: true });
  repoUrl = `${gitServer.url}/fixtures/basic`;
  main = await gitRevParse(join(root, 'fixtures/basic.git'), 'main');
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await gitServer?.close();
  await rm(work, { recursive: true, force: true });
});

describe('ferry get of a private repository', () => {
  it('without FERRY_GIT_TOKEN fails with REPO_NOT_FOUND, naming the variable', async () => {
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', join(work, 'none.zip')], { env: { FERRY_GIT_TOKEN: '' } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/REPO_NOT_FOUND/);
    expect(run.stderr).toMatch(/FERRY_GIT_TOKEN/);
  }, 120_000);

  it('with FERRY_GIT_TOKEN saves the archive, and the token is nowhere in the data dir or the output', async () => {
    const output = join(work, 'basic.zip');
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json', '-o', output], { env: { FERRY_GIT_TOKEN: TOKEN } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.events.find((event) => event.type === 'done')).toMatchObject({ commit: main, format: 'zip' });
    expect(seen).toContain(`Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`);
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
    for (const entry of await readdir(join(work, 'stack'), { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      expect((await readFile(path)).includes(TOKEN), path).toBe(false);
    }
  }, 120_000);

  it('with --token-from-git takes the token from git\'s credential helper', async () => {
    const helper = `!f() { test "$1" = get && printf 'username=x\\npassword=${TOKEN}\\n'; }; f`;
    const env = { FERRY_GIT_TOKEN: '', GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'credential.helper', GIT_CONFIG_VALUE_0: helper };
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json', '--token-from-git', '-o', join(work, 'from-git.zip')], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(TOKEN);
    const none = await runFerry(['get', repoUrl, ...gatewayArgs(), '--token-from-git', '-o', join(work, 'no-helper.zip')], { env: { FERRY_GIT_TOKEN: '', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' } });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/credential helper has no password/);
  }, 120_000);
});
