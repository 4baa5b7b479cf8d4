import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { lsRefsV2 } from '../../../src/worker/git/ls-refs.js';
import { lsRemotePatterns, parseLsRemote, pickRef, type RefSpec, type RemoteRef, type ResolvedRef } from '../../../src/protocol/refs.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { createHttpAgents } from '../../../src/worker/git/http-agents.js';
import { resolveRef } from '../../../src/worker/git/resolve.js';
import { parseRepoUrl, type RepoRef } from '../../../src/worker/git/url.js';
import { fixtureRoot, git } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { allowTestDestination, testDestinations } from '../../helpers/destinations.js';

const RESULT_TYPE = 'application/x-git-upload-pack-result';
const MAIN = 'a37b44c1b960b7ad55958ebe26f46efa765b5338';
const options = { allowHttp: true, timeoutMs: 30_000, allowedDestinations: testDestinations };
// This file's own git context: no other test's pools or fallback memory.
const context = createGitContext(options);
const { agents } = context;

const fromFerry = (req: IncomingMessage): boolean => /ferry/.test(req.headers['user-agent'] ?? '');
/** Every request a server saw, as `METHOD url ferry|git` (by User-Agent). */
type Log = string[];
const logRequest = (log: Log) => (req: IncomingMessage): void => {
  log.push(`${req.method} ${req.url} ${fromFerry(req) ? 'ferry' : 'git'}`);
};

let temp: string;
let fixtures: GitServer;
const fixturesLog: Log = [];
// Repositories the fixtures lack: a name that is a branch and a tag, a tag of a tag, a ref that
// only ends like a branch, a HEAD on another branch, a detached HEAD.
let custom: GitServer;
const customLog: Log = [];

beforeAll(async () => {
  const root = await fixtureRoot();
  temp = await mkdtemp(path.join(tmpdir(), 'ferry-ls-refs-'));
  const basic = path.join(root, 'fixtures', 'basic.git');
  const clash = path.join(temp, 'custom', 'clash.git');
  const detached = path.join(temp, 'custom', 'detached.git');
  const identity = { GIT_COMMITTER_NAME: 'Ferry Test', GIT_COMMITTER_EMAIL: 'test@ferry.test' };
  for (const dir of [clash, detached]) await git(['clone', '--quiet', '--bare', basic, dir]);
  await git(['-C', clash, 'branch', 'v1.0.0', 'release']);
  await git(['-C', clash, 'tag', 'main', 'feature/x']);
  await git(['-C', clash, 'tag', '-a', 'outer', '-m', 'a tag of a tag', 'v1.0.0'], { env: identity });
  await git(['-C', clash, 'branch', '分支', 'release']);
  await git(['-C', clash, 'update-ref', 'refs/x/refs/heads/main', 'release']);
  await git(['-C', clash, 'symbolic-ref', 'HEAD', 'refs/heads/release']);
  await git(['-C', detached, 'update-ref', '--no-deref', 'HEAD', 'v0.1']);
  fixtures = await startGitServer({ root, onRequest: logRequest(fixturesLog) });
  custom = await startGitServer({ root: temp, onRequest: logRequest(customLog) });
});

afterAll(async () => {
  await fixtures?.close();
  await custom?.close();
  if (temp) await rm(temp, { recursive: true, force: true });
});

afterEach(() => {
  vi.unstubAllEnvs();
});

const repoAt = (base: string, repoPath: string): RepoRef =>
  parseRepoUrl(`${base}/${repoPath}`, { allowedHosts: [new URL(base).host], allowHttp: true });

/** `git ls-remote --symref` as the code before ls-refs ran it, parsed the same way. */
async function lsRemote(url: string, patterns: string[]): Promise<RemoteRef[]> {
  return parseLsRemote(await git(['ls-remote', '--symref', '--', url, ...patterns]));
}

/** resolveRef's outcome as a value: the ref, or the error's code and message. */
async function outcome(run: Promise<ResolvedRef>): Promise<ResolvedRef | { code: string; message: string }> {
  try {
    return await run;
  } catch (error) {
    if (!(error instanceof FerryError)) throw error;
    return { code: error.code, message: error.message };
  }
}

/** resolveRef with the fast path switched off the way production switches it off: a proxy variable (git never sees it). */
async function resolveWithGit(repo: RepoRef, spec: RefSpec, timeoutMs = options.timeoutMs): Promise<ResolvedRef | { code: string; message: string }> {
  vi.stubEnv('HTTPS_PROXY', 'http://127.0.0.1:9');
  try {
    return await outcome(resolveRef(repo, spec, createGitContext({ ...options, timeoutMs })));
  } finally {
    vi.unstubAllEnvs();
  }
}

describe('lsRefsV2 against git http-backend', () => {
  const names = ['main', 'feature/x', 'release', 'v0.1', 'v1.0.0', 'outer', '分支', 'refs/heads/main', 'refs/tags/v1.0.0', 'refs/heads/v1.0.0'];
  // Prefixes of real refs (`mai`, `feature`, `heads/main`) must not match: ls-refs prefixes are not ls-remote patterns.
  const misses = ['mai', 'feature', 'x', 'heads/main', 'tags/v1.0.0', 'nope', 'abc1234', 'refs/heads'];
  const specs: RefSpec[] = [{ kind: 'default' }, ...[...names, ...misses].map((name) => ({ kind: 'name', name }) as const)];
  const repos = ['fixtures/basic', 'fixtures/many', 'fixtures/empty', 'custom/clash', 'custom/detached'];
  const cases = repos.flatMap((repo) => specs.map((spec) => [repo, spec.kind === 'name' ? spec.name : '(default)', spec] as const));

  it.each(cases)('%s %s: the entries ls-remote gives, and the same resolution', async (repoPath, _, spec) => {
    const [server, log] = repoPath.startsWith('custom/') ? [custom, customLog] : [fixtures, fixturesLog];
    const repo = repoAt(server.url, repoPath);
    const patterns = lsRemotePatterns(spec);
    const listing = await lsRemote(repo.fetchUrl, patterns);
    // ls-remote matches patterns on the tail; ls-refs sends refs that start with one (see lsRefsV2).
    const startsWithPattern = (name: string): boolean => patterns.some((p) => name.startsWith(p.replace(/^(.*)\^\{\}$/, '$1')));
    expect(await lsRefsV2(repo.fetchUrl, patterns, { agents, timeoutMs: 10_000 })).toEqual(listing.filter((r) => startsWithPattern(r.name)));

    log.length = 0;
    const before = pickRef(spec, listing) ?? { code: 'REF_NOT_FOUND' };
    expect(await outcome(resolveRef(repo, spec, context))).toMatchObject(before);
    expect(log).toEqual([`POST /${repoPath}.git/git-upload-pack ferry`]);
  });

  it('maps symrefs and peeled tags to what ls-remote prints', async () => {
    const repo = repoAt(custom.url, 'custom/clash');
    const refs = await lsRefsV2(repo.fetchUrl, ['HEAD', 'refs/tags/outer', 'refs/tags/outer^{}'], { agents, timeoutMs: 10_000 });
    expect(refs?.map((r) => `${r.oid ?? `ref: ${r.symref ?? ''}`}\t${r.name}`)).toEqual([
      'ref: refs/heads/release\tHEAD',
      'b5616f85f405123a6999e44f566a9212e0cc5f4f\tHEAD',
      expect.stringMatching(/^[0-9a-f]{40}\trefs\/tags\/outer$/),
      'd0fb052d85875789c22bc6fd7cd96bc7996e3efc\trefs/tags/outer^{}',
    ]);
  });

  it('leaves out only refs that merely end like a pattern, which pickRef never reads', async () => {
    const repo = repoAt(custom.url, 'custom/clash');
    const spec = { kind: 'name', name: 'main' } as const;
    const listing = await lsRemote(repo.fetchUrl, lsRemotePatterns(spec));
    const refs = await lsRefsV2(repo.fetchUrl, lsRemotePatterns(spec), { agents, timeoutMs: 10_000 });
    expect(listing.map((r) => r.name)).toContain('refs/x/refs/heads/main');
    expect(refs?.map((r) => r.name)).toEqual(listing.map((r) => r.name).filter((name) => name !== 'refs/x/refs/heads/main'));
    expect(pickRef(spec, refs ?? [])).toEqual(pickRef(spec, listing));
  });

  it('sends protocol v2 with a git-like User-Agent, which http-backend receives as GIT_PROTOCOL', async () => {
    const seen: IncomingMessage['headers'][] = [];
    const server = await startGitServer({ root: await fixtureRoot(), onRequest: (req) => seen.push(req.headers) });
    try {
      // Only a v2 answer has refs in it: a v0 upload-pack sends nothing back to this body.
      expect(await lsRefsV2(`${server.url}/fixtures/basic.git`, ['HEAD'], { agents, timeoutMs: 10_000 })).toHaveLength(2);
      expect(seen).toEqual([expect.objectContaining({ 'git-protocol': 'version=2', 'user-agent': expect.stringMatching(/^git\//) })]);
    } finally {
      await server.close();
    }
  });

  it('asks git instead when a proxy variable is set', async () => {
    const repo = repoAt(fixtures.url, 'fixtures/basic');
    fixturesLog.length = 0;
    expect(await lsRefsV2(repo.fetchUrl, ['HEAD'], { agents, timeoutMs: 10_000, env: { https_proxy: 'http://proxy.invalid:3128' } })).toBeUndefined();
    expect(fixturesLog).toEqual([]);
    expect(await resolveWithGit(repo, { kind: 'default' })).toEqual({ commit: MAIN, ref: 'main' });
    expect(fixturesLog).toContain('GET /fixtures/basic.git/info/refs?service=git-upload-pack git');
    expect(fixturesLog.some((line) => line.endsWith(' ferry'))).toBe(false);
  });

  it('asks git instead for patterns the server cannot match (short names, wildcards)', async () => {
    const url = `${fixtures.url}/fixtures/basic.git`;
    for (const patterns of [['main'], ['refs/heads/*']]) {
      expect(await lsRefsV2(url, patterns, { agents, timeoutMs: 10_000 })).toBeUndefined();
    }
  });

  it('reuses one connection for consecutive resolutions', async () => {
    const sockets = new Set<Socket>();
    const server = await startGitServer({ root: await fixtureRoot(), onRequest: (req) => sockets.add(req.socket) });
    try {
      const repo = repoAt(server.url, 'fixtures/basic');
      expect(await resolveRef(repo, { kind: 'default' }, context)).toEqual({ commit: MAIN, ref: 'main' });
      expect(await resolveRef(repo, { kind: 'name', name: 'v1.0.0' }, context)).toMatchObject({ ref: 'v1.0.0' });
      expect(server.requests).toBe(2);
      expect(sockets.size).toBe(1);
    } finally {
      await server.close();
    }
  });
});

describe('errors come from git, as before', () => {
  it.each([
    ['a repository that does not exist', async () => repoAt(fixtures.url, 'fixtures/missing'), 'REPO_NOT_FOUND'],
    ['a host that refuses connections', async () => repoAt(await closedPort(), 'owner/repo'), 'UPSTREAM_UNREACHABLE'],
  ])('%s', async (_, makeRepo, code) => {
    const repo = await makeRepo();
    const fast = await outcome(resolveRef(repo, { kind: 'default' }, context));
    expect(fast).toMatchObject({ code });
    expect(fast).toEqual(await resolveWithGit(repo, { kind: 'default' }));
  });

  it('a ref that does not exist', async () => {
    const repo = repoAt(fixtures.url, 'fixtures/basic');
    const spec = { kind: 'name', name: 'nope' } as const;
    const fast = await outcome(resolveRef(repo, spec, context));
    expect(fast).toMatchObject({ code: 'REF_NOT_FOUND' });
    expect(fast).toEqual(await resolveWithGit(repo, spec));
  });
});

// What a real server never sends (or only when it is not a v2 git server) needs a fake: this one
// answers our request with `answer` and passes git's own requests to the real server, so the
// fallback has something to succeed against.
describe('odd answers: undefined, and resolveRef goes through git', () => {
  let fake: Fake;
  let answer: (req: IncomingMessage, res: ServerResponse) => void = () => {};

  beforeAll(async () => {
    fake = await startFake((req, res) => (fromFerry(req) ? answer(req, res) : proxy(fixtures, req, res)));
  });
  afterAll(async () => fake?.close());

  const pktLength = (bytes: number): string => (bytes + 4).toString(16).padStart(4, '0');
  const pkt = (text: string): string => pktLength(Buffer.byteLength(text)) + text;
  const notUtf8 = Buffer.from(`${MAIN} refs/heads/\xff\n`, 'latin1');
  const ok = (body: string | Buffer) => (_: IncomingMessage, res: ServerResponse) => {
    res.writeHead(200, { 'Content-Type': RESULT_TYPE });
    res.end(body);
  };
  const head = pkt(`${MAIN} HEAD symref-target:refs/heads/main\n`);

  it.each<[string, (req: IncomingMessage, res: ServerResponse) => void]>([
    // What http-backend sends a v2 request body when it runs upload-pack as v0 (no GIT_PROTOCOL).
    ['a v0 server: 200 and an empty body', ok('')],
    ['a v0 ref advertisement', ok(`${pkt('# service=git-upload-pack\n')}0000${pkt(`${MAIN} HEAD\0multi_ack\n`)}0000`)],
    ['a 404 page', (_, res) => res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>Not Found</h1>')],
    ['a redirect (never followed)', (req, res) => res.writeHead(301, { Location: `${fixtures.url}${req.url ?? ''}` }).end()],
    ['a 200 HTML page', (_, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(head + '0000')],
    ['a compressed body', (_, res) => res.writeHead(200, { 'Content-Type': RESULT_TYPE, 'Content-Encoding': 'gzip' }).end(head + '0000')],
    ['a truncated pkt-line', ok(head.slice(0, 30))],
    ['a malformed pkt-line length', ok(`zz${head.slice(2)}0000`)],
    ['no flush-pkt', ok(head)],
    ['bytes after the flush-pkt', ok(`${head}0000${head}`)],
    ['an ERR packet', ok(`${pkt('ERR upload-pack: not our ref\n')}0000`)],
    ['a non-hex object id', ok(`${pkt(`${'g'.repeat(40)} HEAD\n`)}0000`)],
    ['an unknown ref attribute', ok(`${pkt(`${MAIN} HEAD colour:blue\n`)}0000`)],
    ['an invalid UTF-8 ref name', ok(Buffer.concat([Buffer.from(pktLength(notUtf8.length)), notUtf8, Buffer.from('0000')]))],
    ['more than 4 MiB', ok(pkt(`${MAIN} refs/heads/${'x'.repeat(200)}\n`).repeat(20_000))],
    ['a connection closed mid-body', (_, res) => {
      res.writeHead(200, { 'Content-Type': RESULT_TYPE });
      res.write(head);
      setTimeout(() => res.socket?.destroy(), 20);
    }],
  ])('%s', async (_, odd) => {
    answer = odd;
    const repo = repoAt(fake.url, 'fixtures/basic');
    expect(await lsRefsV2(repo.fetchUrl, ['HEAD'], { agents, timeoutMs: 10_000 })).toBeUndefined();
    fake.log.length = 0;
    expect(await resolveRef(repo, { kind: 'default' }, context)).toEqual({ commit: MAIN, ref: 'main' });
    expect(fake.log).toContain('GET /fixtures/basic.git/info/refs?service=git-upload-pack git');
  });

  it('says so in the log once per host when git had to list a working repository, not for a missing one', async () => {
    answer = ok('');
    const lines: string[] = [];
    const log = (line: string): void => void lines.push(line);
    const logged = createGitContext({ ...options, log });
    // A repository that does not exist falls back too, and that is no news.
    await expect(resolveRef(repoAt(fake.url, 'fixtures/nope'), { kind: 'default' }, logged)).rejects.toMatchObject({ code: 'REPO_NOT_FOUND' });
    expect(lines).toEqual([]);
    const repo = repoAt(fake.url, 'fixtures/basic');
    await resolveRef(repo, { kind: 'default' }, logged);
    await resolveRef(repo, { kind: 'default' }, logged);
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^ls-refs: ${repo.host.replace(/\./g, '\\.')} gave no clean protocol v2 answer`))]);
  });

  it('gives up at its deadline (resolveRef: after min(timeoutMs, 10 s), then git with its own timeout)', async () => {
    // Never answers, and notes when the client hangs up on it.
    let hungUp!: () => void;
    const abandoned = new Promise<void>((resolve) => (hungUp = resolve));
    answer = (_req, res) => void res.on('close', hungUp);
    const repo = repoAt(fake.url, 'fixtures/basic');
    expect(await lsRefsV2(repo.fetchUrl, ['HEAD'], { agents, timeoutMs: 300 })).toBeUndefined();
    // It asked, waited and gave the request up (no pooled socket left waiting for an answer).
    await abandoned;
    // 2 s: enough for git's own (inactivity) timeout not to fire on a busy machine.
    expect(await resolveRef(repo, { kind: 'default' }, createGitContext({ ...options, timeoutMs: 2000 }))).toEqual({ commit: MAIN, ref: 'main' });
  });

  it('rejects with the abort reason when aborted', async () => {
    answer = () => {};
    const controller = new AbortController();
    const pending = lsRefsV2(`${fake.url}/fixtures/basic.git`, ['HEAD'], { agents, timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('retries once on a fresh connection when a pooled one was closed under it', async () => {
    const agents = createHttpAgents();
    let served = 0;
    answer = (req, res) => {
      // The second request arrives on the pooled socket: drop it, as a server timing out idle connections does.
      if (++served === 2) return req.socket.destroy();
      ok(`${head}0000`)(req, res);
    };
    const url = `${fake.url}/fixtures/basic.git`;
    const sockets = fake.sockets.size;
    expect(await lsRefsV2(url, ['HEAD'], { agents, timeoutMs: 10_000 })).toHaveLength(2);
    expect(await lsRefsV2(url, ['HEAD'], { agents, timeoutMs: 10_000 })).toHaveLength(2);
    expect(served).toBe(3);
    expect(fake.sockets.size - sockets).toBe(2);
  });
});

interface Fake {
  url: string;
  log: Log;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

async function startFake(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<Fake> {
  const log: Log = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    logRequest(log)(req);
    sockets.add(req.socket);
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  allowTestDestination(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    sockets,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    },
  };
}

function proxy(target: GitServer, req: IncomingMessage, res: ServerResponse): void {
  const upstream = request(`${target.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
}

/** A URL on which nothing listens. */
async function closedPort(): Promise<string> {
  const fake = await startFake(() => {});
  await fake.close();
  return fake.url;
}
