/**
 * `ferry get` through its real process against a local stack: upstream failures name their cause, and URLs
 * select what they say (issue 12 items 1 and 2). Nothing here reaches the internet: github.com is not an
 * allowed host of this stack, so the `owner/repo` shorthand is shown to mean github.com by the refusal itself.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { fixtureRoot, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';

let work: string;
let gitServer: GitServer;
let failing: Server;
let failingHost: string;
let closedHost: string;
let stack: LocalStack;
let basicDir: string;
let repoUrl: string;

const gatewayArgs = (): string[] => ['--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret];

beforeAll(async () => {
  const root = await fixtureRoot();
  work = await mkdtemp(join(tmpdir(), 'ferry-get-urls-'));
  gitServer = await startGitServer({ root });
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedHost = `127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));
  // A git host that answers 500 to everything: git talks to it as to any other host.
  failing = createServer((_req, res) => res.writeHead(500).end('broken\n'));
  await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
  failingHost = `127.0.0.1:${(failing.address() as AddressInfo).port}`;
  stack = await startLocalStack({
    dataDir: join(work, 'stack'),
    port: 0,
    allowHttp: true,
    // Replaces the default list: no github.com, so nothing here can reach it.
    workerEnv: {
      FERRY_ALLOWED_HOSTS: [gitServer.host, 'git.nothing.invalid', closedHost, failingHost].join(','),
      FERRY_ALLOWED_DESTINATIONS: [gitServer.host, closedHost, failingHost].join(','),
    },
  });
  basicDir = join(root, 'fixtures/basic.git');
  repoUrl = `${gitServer.url}/fixtures/basic`;
});

afterAll(async () => {
  await stack?.close();
  await gitServer?.close();
  await new Promise((resolve) => failing?.close(resolve));
  await rm(work, { recursive: true, force: true });
});

describe('ferry get names the upstream\'s failure', () => {
  it('a host that does not resolve: name resolution, not "try again later"', async () => {
    const run = await runFerry(['get', 'https://git.nothing.invalid/o/r', ...gatewayArgs(), '-o', join(work, 'a.zip')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/UPSTREAM_UNREACHABLE/);
    expect(run.stderr).toMatch(/git\.nothing\.invalid could not be resolved \(DNS\)/);
    expect(run.stderr).not.toMatch(/try again later/i);
  });

  it('a closed port: refused', async () => {
    const run = await runFerry(['get', `http://${closedHost}/o/r`, ...gatewayArgs(), '-o', join(work, 'b.zip')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`${closedHost} refused the connection`);
  });

  it('a git server answering 500: says so', async () => {
    const run = await runFerry(['get', `http://${failingHost}/o/r`, ...gatewayArgs(), '-o', join(work, 'c.zip')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`${failingHost} answered HTTP 500`);
  });
});

describe('ferry get takes the URL at its word', () => {
  it('/tree/<ref>/<path> selects the longest start that is a branch (feature/x), not the default branch', async () => {
    const run = await runFerry(['get', `${repoUrl}/tree/feature/x/docs`, ...gatewayArgs(), '--json', '-o', join(work, 'tree.zip')]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const done = run.events.find((e) => e.type === 'done')!;
    expect(done).toMatchObject({ ref: 'feature/x', commit: await gitRevParse(basicDir, 'feature/x') });
  });

  it('/tree/<tag> selects the tag', async () => {
    const run = await runFerry(['get', `${repoUrl}/tree/v1.0.0`, ...gatewayArgs(), '--json', '-o', join(work, 'tag.zip')]);
    expect(run.code).toBe(0);
    expect(run.events.find((e) => e.type === 'done')).toMatchObject({ ref: 'v1.0.0', commit: await gitRevParse(basicDir, 'v1.0.0^{commit}') });
  });

  it('/tree/<ref> with a different --ref is a usage error naming both, before any job', async () => {
    const run = await runFerry(['get', `${repoUrl}/tree/release`, '--ref', 'main', ...gatewayArgs(), '-o', join(work, 'd.zip')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/the URL selects release \(its \/tree\/ part\) but --ref says main/);
  });

  it('/commit/<short id> asks for the full id', async () => {
    const run = await runFerry(['get', `${repoUrl}/commit/abc1234`, ...gatewayArgs(), '-o', join(work, 'e.zip')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/full 40-character id/);
  });

  it('owner/repo means github.com/owner/repo, not a host named "owner"', async () => {
    const run = await runFerry(['get', 'expressjs/express', ...gatewayArgs(), '-o', join(work, 'f.zip')]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/Repositories on github\.com are not served here/);
    expect(run.stderr).not.toMatch(/on expressjs/);
  });
});
