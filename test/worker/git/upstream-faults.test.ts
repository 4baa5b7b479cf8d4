// Transient upstream faults, caused for real: the fault proxy (test/helpers/fault-proxy.ts) sits between
// git and the real git server and cuts, stalls or fails the answers. A fault that passes is retried with
// a fresh fetch and said so; one that does not ends in a clear code after the bounded retries, with
// nothing left behind. Assertions are on outcomes and on what was said, never on durations.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { lsRemote } from '../../../src/worker/git/ls-remote.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { resolveRef } from '../../../src/worker/git/resolve.js';
import { parseRepoUrl, type RepoRef } from '../../../src/worker/git/url.js';
import type { RetryNotice } from '../../../src/worker/upstream-retry.js';
import { startFaultProxy, type Fault, type FaultProxy, type RequestHead } from '../../helpers/fault-proxy.js';
import { faultRoot, fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { allowTestDestination, testDestinations } from '../../helpers/destinations.js';

let server: GitServer;
let proxy: FaultProxy;
let root: string;
let temp: string;

beforeAll(async () => {
  // Both fixture scripts build into the same root: faults/pack.git beside fixtures/empty.git.
  await fixtureRoot();
  root = await faultRoot();
  server = await startGitServer({ root });
  const [host, port] = server.host.split(':');
  proxy = await startFaultProxy({ target: { host: host as string, port: Number(port) }, unit: 'request' });
  // The SSRF guard refuses loopback: this file allows its own proxy, and each attempt is pinned to it.
  allowTestDestination(`${proxy.host}:${proxy.port}`);
  temp = await mkdtemp(join(tmpdir(), 'ferry-faults-'));
});

afterAll(async () => {
  await proxy?.close();
  await server?.close();
  await rm(temp, { recursive: true, force: true });
});

afterEach(() => proxy.setRule({ type: 'pass' }));

const RETRIES = 2;
// No pause between attempts keeps the tests short; nothing asserts it. The stall rows get a one-second
// watchdog; the others a long one, so a git slowed by a loaded machine is not taken for a stall.
const STALL_MS = 1000;
const context = (stallTimeoutMs = 20_000): ReturnType<typeof createGitContext> =>
  createGitContext({ allowHttp: true, timeoutMs: 60_000, stallTimeoutMs, retry: { retries: RETRIES, backoffMs: 0 }, allowedDestinations: testDestinations });
const repo = (path: string): RepoRef => parseRepoUrl(`${proxy.url}/${path}`, { allowedHosts: [`${proxy.host}:${proxy.port}`], allowHttp: true });
const packCommit = (): Promise<string> => gitRevParse(join(root, 'faults/pack.git'), 'main');
/** The pack answer: a POST to git-upload-pack (ls-refs answers are a few hundred bytes, far below the cut). */
const packRequest = (head: RequestHead): boolean => head.method === 'POST' && head.path.endsWith('/git-upload-pack');

let run = 0;
function mirrors(fault?: Fault): { cache: MirrorCache; workDir: string } {
  const workDir = join(temp, `run-${++run}`);
  return { cache: new MirrorCache({ workDir, git: context(fault?.type === 'stall' ? STALL_MS : undefined) }), workDir };
}

async function leftovers(workDir: string): Promise<string[]> {
  return readdir(join(workDir, 'mirrors')).catch(() => []);
}

describe('a fetch meets a transient fault', () => {
  it.each([
    ['cut once at 100 KiB of the pack', { type: 'cut', atByte: 100 * 1024 }, /^upstream cut the connection, retrying \(1\/2\)$/],
    ['cut once at 1 MiB of the pack', { type: 'cut', atByte: 1024 * 1024 }, /^upstream cut the connection, retrying \(1\/2\)$/],
    ['reset once at 100 KiB of the pack', { type: 'cut', atByte: 100 * 1024, reset: true }, /^upstream cut the connection, retrying \(1\/2\)$/],
    ['stalled once after 100 KiB of the pack', { type: 'stall', afterBytes: 100 * 1024 }, /^upstream stalled, retrying \(1\/2\)$/],
    ['answered 503 once', { type: 'http', status: 503 }, /^upstream answered a server error, retrying \(1\/2\)$/],
  ] as [string, Fault, RegExp][])('%s: succeeds on the next attempt and says it retried', async (_name, fault, said) => {
    proxy.setRule({ fault, times: 1, match: packRequest });
    const { cache, workDir } = mirrors(fault);
    const notices: RetryNotice[] = [];
    const commit = await packCommit();
    const lease = await cache.fetch(repo('faults/pack'), commit, undefined, undefined, (notice) => notices.push(notice));
    lease.release();
    expect(notices.map((n) => n.message)).toHaveLength(1);
    expect(notices[0]?.message).toMatch(said);
    expect(proxy.stats.faults).toBeGreaterThan(0);
    expect(await gitRevParse(lease.gitDir, `${commit}^{commit}`)).toBe(commit);
    expect((await leftovers(workDir)).filter((name) => !name.endsWith('.git'))).toEqual([]);
  });

  it('a new full mirror (git clone) cut once at 1 MiB is cloned again', async () => {
    proxy.setRule({ fault: { type: 'cut', atByte: 1024 * 1024 }, times: 1, match: packRequest });
    const { cache, workDir } = mirrors();
    const notices: string[] = [];
    const lease = await cache.fetchAll(repo('faults/pack'), { onRetry: (notice) => notices.push(notice.message) });
    lease.release();
    expect(notices).toEqual(['upstream cut the connection, retrying (1/2)']);
    expect(lease.refs.get('refs/heads/main')).toBe(await packCommit());
    expect((await leftovers(workDir)).filter((name) => !name.endsWith('.git'))).toEqual([]);
  });
});

describe('a fault that does not pass', () => {
  it.each([
    ['cut every time at 100 KiB', { type: 'cut', atByte: 100 * 1024 }, 'UPSTREAM_TRUNCATED', /cut its answer short.*try again/],
    ['stalled every time', { type: 'stall', afterBytes: 100 * 1024 }, 'UPSTREAM_UNREACHABLE', /stopped sending .* \(stalled\).*try again/],
    ['503 every time', { type: 'http', status: 503 }, 'UPSTREAM_UNREACHABLE', /answered HTTP 503, a server error.*Try again/],
  ] as [string, Fault, string, RegExp][])('%s: a clear code after the bounded retries, nothing left behind', async (_name, fault, code, message) => {
    proxy.setRule({ fault, match: packRequest });
    const { cache, workDir } = mirrors(fault);
    const notices: string[] = [];
    const error = await cache.fetch(repo('faults/pack'), await packCommit(), undefined, undefined, (n) => notices.push(n.message)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe(code);
    expect((error as FerryError).message).toMatch(message);
    expect(notices).toHaveLength(RETRIES);
    expect(notices.at(-1)).toMatch(/retrying \(2\/2\)$/);
    // The new mirror was removed with everything the broken fetches wrote.
    expect(await leftovers(workDir)).toEqual([]);
  });

  it('a permanent failure (a missing repository) is not retried', async () => {
    const { cache } = mirrors();
    const notices: string[] = [];
    const error = await cache.fetch(repo('faults/missing'), await packCommit(), undefined, undefined, (n) => notices.push(n.message)).catch((e: unknown) => e);
    expect((error as FerryError).code).toBe('REPO_NOT_FOUND');
    expect(notices).toEqual([]);
  });
});

describe('a cut ref listing', () => {
  // Cut inside the HTTP headers: git ls-remote then prints nothing and exits 0.
  const cutHeaders: Fault = { type: 'cut', atByte: 150 };

  it('is not an empty repository: UPSTREAM_TRUNCATED after the retries, never REF_NOT_FOUND', async () => {
    proxy.setRule({ fault: cutHeaders });
    const error = await resolveRef(repo('faults/pack'), { kind: 'default' }, context()).catch((e: unknown) => e);
    expect((error as FerryError).code).toBe('UPSTREAM_TRUNCATED');
    expect((error as FerryError).message).toMatch(/ended its ref listing before it was complete.*try again/);
  });

  it('is listed again when the cut passes', async () => {
    // The in-process ls-refs request and git's first advertisement request are cut; the retry gets through.
    proxy.setRule({ fault: cutHeaders, times: 2 });
    expect(await resolveRef(repo('faults/pack'), { kind: 'default' }, context())).toEqual({ commit: await packCommit(), ref: 'main' });
  });

  it('git ls-remote cut in its advertisement is retried', async () => {
    proxy.setRule({ fault: cutHeaders, times: 1, match: (head) => head.method === 'GET' });
    const refs = await lsRemote(repo('faults/pack'), [], context());
    expect(refs.find((ref) => ref.name === 'refs/heads/main')?.oid).toBe(await packCommit());
  });

  it('a complete empty listing is still an empty repository', async () => {
    expect(await lsRemote(repo('fixtures/empty'), [], context())).toEqual([]);
    const error = await resolveRef(repo('fixtures/empty'), { kind: 'default' }, context()).catch((e: unknown) => e);
    expect((error as FerryError).code).toBe('REF_NOT_FOUND');
    expect((error as FerryError).message).toMatch(/has no commits yet/);
  });
});

// A retry is a new connection, so it passes the SSRF guard again: a name that resolved to the allowed
// upstream for the first attempt and to the metadata address for the second is refused, not fetched.
describe('a retry is guarded like the first attempt', () => {
  it('re-resolves the host for each attempt and refuses an internal address with DESTINATION_FORBIDDEN', async () => {
    const resolved: string[] = [];
    const resolve = async (): Promise<{ address: string; family: 4 }[]> => {
      const address = resolved.length === 0 ? proxy.host : '169.254.169.254';
      resolved.push(address);
      return [{ address, family: 4 }];
    };
    const git = createGitContext({ allowHttp: true, timeoutMs: 60_000, stallTimeoutMs: 20_000, retry: { retries: RETRIES, backoffMs: 0 }, allowedDestinations: testDestinations, resolve });
    const named = parseRepoUrl(`http://faults.test:${proxy.port}/faults/pack`, { allowedHosts: [`faults.test:${proxy.port}`], allowHttp: true });
    proxy.setRule({ fault: { type: 'cut', atByte: 100 * 1024 }, times: 1, match: packRequest });
    const notices: string[] = [];
    const cache = new MirrorCache({ workDir: join(temp, `run-${++run}`), git });
    const error = await cache.fetch(named, await packCommit(), undefined, undefined, (n) => notices.push(n.message)).catch((e: unknown) => e);
    expect(notices).toEqual(['upstream cut the connection, retrying (1/2)']);
    expect(resolved).toEqual([proxy.host, '169.254.169.254']);
    expect((error as FerryError).code).toBe('DESTINATION_FORBIDDEN');
  });
});
