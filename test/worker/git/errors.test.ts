import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { gitFailure } from '../../../src/worker/git/errors.js';
import { listRemoteRefs } from '../../../src/worker/git/list-refs.js';
import { resolveRef } from '../../../src/worker/git/resolve.js';
import { transientReason } from '../../../src/worker/upstream-retry.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import { startConnectProxy, type ConnectProxy } from '../../helpers/connect-proxy.js';
import { fixtureRoot } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { allowTestDestination, testDestinations } from '../../helpers/destinations.js';

// git's own words for each failure, as git 2.39 / curl 7.88 print them (and older curls' variants).
describe('gitFailure keeps the cause', () => {
  it.each([
    ["fatal: unable to access 'https://github.com/a/b.git/': Could not resolve host: github.com", 'UPSTREAM_UNREACHABLE', /github\.com could not be resolved \(DNS\)/, false],
    ["fatal: unable to access 'http://127.0.0.1:1/a/b.git/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Couldn't connect to server", 'UPSTREAM_UNREACHABLE', /127\.0\.0\.1:1 refused the connection/, false],
    ["fatal: unable to access 'https://h.test/a/b.git/': Failed to connect to h.test port 443: Connection refused", 'UPSTREAM_UNREACHABLE', /h\.test refused/, false],
    ["fatal: unable to access 'https://h.test/a/b.git/': Failed to connect to h.test port 443 after 130000 ms: Connection timed out", 'UPSTREAM_UNREACHABLE', /h\.test did not answer in time/, true],
    ["fatal: unable to access 'https://h.test/a/b.git/': SSL certificate problem: self-signed certificate", 'UPSTREAM_UNREACHABLE', /TLS handshake with h\.test failed \(SSL certificate problem/, false],
    ["fatal: unable to access 'https://h.test/a/b.git/': server certificate verification failed. CAfile: none CRLfile: none", 'UPSTREAM_UNREACHABLE', /TLS handshake/, false],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 500", 'UPSTREAM_UNREACHABLE', /h\.test answered HTTP 500, a server error on its side/, true],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 403", 'REPO_NOT_FOUND', /answered HTTP 403: the repository is private/, false],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 429", 'RATE_LIMITED', /answered HTTP 429/, true],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 301", 'UPSTREAM_UNREACHABLE', /answered HTTP 301, a redirect/, false],
    ["fatal: repository 'https://h.test/a/b.git/' not found", 'REPO_NOT_FOUND', /does not exist or is private/, false],
    ["fatal: could not read Username for 'https://h.test': terminal prompts disabled", 'REPO_NOT_FOUND', /h\.test asks for a login/, false],
    ['error: RPC failed; curl 56 Recv failure: Connection reset by peer\nfatal: early EOF', 'UPSTREAM_TRUNCATED', /cut its answer short \(RPC failed; curl 56 .*try again/, true],
    ["fatal: unable to access 'https://h.test/a/b.git/': Received HTTP code 407 from proxy after CONNECT", 'UPSTREAM_UNREACHABLE', /proxy in HTTPS_PROXY/, false],
    ['fatal: bad object 1234', 'GIT_FAILED', /git failed \(bad object 1234\)/, false],
  ])('%s', (stderr, code, message, retry) => {
    const error = gitFailure(stderr, 'Listing refs of x');
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(/try again/i.test(error.message)).toBe(retry);
  });

  // Only what another attempt may not meet is retried (upstream-retry.ts): never a 404, a login, a redirect, DNS or TLS.
  it.each([
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 503", 'answered a server error'],
    ["fatal: unable to access 'https://h.test/a/b.git/': Failed to connect to h.test port 443 after 130000 ms: Connection timed out", 'timed out'],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 404", undefined],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 403", undefined],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 429", undefined],
    ["fatal: unable to access 'https://h.test/a/b.git/': The requested URL returned error: 301", undefined],
    ["fatal: unable to access 'https://github.com/a/b.git/': Could not resolve host: github.com", undefined],
    ["fatal: unable to access 'https://h.test/a/b.git/': SSL certificate problem: self-signed certificate", undefined],
    ["fatal: could not read Username for 'https://h.test': terminal prompts disabled", undefined],
    ['fatal: bad object 1234', undefined],
  ])('retried or not: %s', (stderr, reason) => {
    expect(transientReason(gitFailure(stderr, 'Fetching x'))).toBe(reason);
  });
});

// A git answer that began and broke off: each of git's and curl's words for it is UPSTREAM_TRUNCATED
// (502, transient, retried), never GIT_FAILED (500, "a bug").
describe('truncated upstream answers', () => {
  it.each([
    'error: RPC failed; curl 52 Empty reply from server\nfatal: expected flush after ref listing',
    'fatal: expected flush after ref listing',
    "fatal: expected 'packfile'",
    'error: 2 bytes of length header were received\nfatal: expected response end packet after ref listing',
    'error: 1234 bytes of body are still expected\nfetch-pack: unexpected disconnect while reading sideband packet\nfatal: early EOF\nfatal: index-pack failed',
    'fetch-pack: unexpected disconnect while reading sideband packet',
    'fatal: early EOF\nfatal: index-pack failed',
    'fatal: the remote end hung up unexpectedly',
    'error: RPC failed; curl 18 transfer closed with outstanding read data remaining\nfatal: early EOF',
    'error: RPC failed; curl 56 GnuTLS recv error (-9): Error decoding the received TLS packet.',
    'error: RPC failed; curl 92 HTTP/2 stream 5 was not closed cleanly: CANCEL (err 8)',
    "fatal: unable to access 'https://h.test/a/b.git/': Recv failure: Connection reset by peer",
    "fatal: unable to access 'https://h.test/a/b.git/': Empty reply from server",
    'fatal: protocol error: bad pack header',
  ])('%s', (stderr) => {
    const error = gitFailure(stderr, 'Fetching x', undefined, 'h.test');
    expect(error.code).toBe('UPSTREAM_TRUNCATED');
    expect(error.status).toBe(502);
    expect(error.message).toMatch(/^Fetching x: h\.test cut its answer short \(.+\)\. This is usually transient: try again\.$/);
    expect(transientReason(error)).toBe('cut the connection');
  });

  it('a full disk while indexing is not an upstream fault', () => {
    const error = gitFailure('fatal: write error: No space left on device\nfatal: index-pack failed\nfatal: early EOF', 'Fetching x');
    expect(error.code).toBe('GIT_FAILED');
    expect(transientReason(error)).toBeUndefined();
  });
});


// The same through real git against real sockets: the message names the cause and the host.
describe('listing refs of an unreachable upstream', () => {
  const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: testDestinations });
  let closedPort: number;
  let failing: Server;
  let failingHost: string;

  beforeAll(async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    // A git host that answers 500 to everything (a real HTTP server: git talks to it as to any other).
    failing = createServer((_req, res) => res.writeHead(500).end('broken\n'));
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    failingHost = `127.0.0.1:${(failing.address() as AddressInfo).port}`;
    allowTestDestination(`127.0.0.1:${closedPort}`);
    allowTestDestination(failingHost);
  });
  afterAll(() => new Promise((resolve) => failing?.close(resolve)));

  const fail = async (url: string, allowed: string): Promise<FerryError> => {
    const repo = parseRepoUrl(url, { allowedHosts: [allowed], allowHttp: true });
    const error = await resolveRef(repo, { kind: 'default' }, context).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    return error as FerryError;
  };

  it('a host under .invalid: name resolution, no "try again later"', async () => {
    const error = await fail('https://git.nothing.invalid/o/r', 'git.nothing.invalid');
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toMatch(/git\.nothing\.invalid could not be resolved \(DNS\)/);
    expect(error.message).not.toMatch(/try again later/i);
  });

  it('a closed port: the connection was refused', async () => {
    const error = await fail(`http://127.0.0.1:${closedPort}/o/r`, `127.0.0.1:${closedPort}`);
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${closedPort} refused the connection`));
    expect(error.message).not.toMatch(/try again/i);
  });

  it('a server error: the host answered 500', async () => {
    const error = await fail(`http://${failingHost}/o/r`, failingHost);
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toContain(`${failingHost} answered HTTP 500`);
  });
});

describe('git through the user\'s proxy', () => {
  let proxy: ConnectProxy;
  let server: GitServer;
  beforeAll(async () => {
    proxy = await startConnectProxy();
    server = await startGitServer({ root: await fixtureRoot() });
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.close();
  });

  it('lists refs of a host only the proxy can reach (http_proxy reaches git\'s environment)', async () => {
    const host = `git.test:${new URL(server.url).port}`;
    const context = createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: testDestinations, processEnv: { ...process.env, http_proxy: proxy.url, NO_PROXY: '' } });
    expect(context.env.http_proxy).toBe(proxy.url);
    const answer = await listRemoteRefs(parseRepoUrl(`http://${host}/fixtures/basic`, { allowedHosts: [host], allowHttp: true }), context);
    expect(answer.refs.map((ref) => ref.name)).toContain('refs/heads/main');
    expect(proxy.seen.some((line) => line.startsWith(`GET http://${host}/fixtures/basic.git/info/refs`))).toBe(true);
  });
});
