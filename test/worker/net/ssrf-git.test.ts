// The SSRF guard on git's paths, against the real git server: the submit-time listing and commit check
// (node:http, protocol v2), and git itself (ls-remote, fetch, clone). The guard's resolver is injected so a
// test can answer as a hostile DNS would; `localhost` is used as the name because the machine's own DNS
// sends it to 127.0.0.1, so a connection that escaped the guard would reach the server there and be counted.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { assertCommitExists } from '../../../src/worker/git/commit-exists.js';
import { createGitContext, type GitContext } from '../../../src/worker/git/context.js';
import { gitEnv } from '../../../src/worker/git/env.js';
import { listRemoteRefs } from '../../../src/worker/git/list-refs.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { resolveRef } from '../../../src/worker/git/resolve.js';
import { parseRepoUrl, type RepoRef } from '../../../src/worker/git/url.js';
import type { ResolvedAddress, Resolver } from '../../../src/worker/net/destinations.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';

let root: string;
let temp: string;
let commit: string;
// `good` on 127.0.0.2 and `evil` on 127.0.0.1, on the same port: `localhost:<port>` reaches `evil` unless pinned.
let good: GitServer;
let evil: GitServer;
let port: number;
const agents: string[] = [];

beforeAll(async () => {
  root = await fixtureRoot();
  temp = await mkdtemp(join(tmpdir(), 'ferry-ssrf-git-'));
  commit = await gitRevParse(join(root, 'fixtures/basic.git'), 'main');
  for (let attempt = 0; ; attempt++) {
    good = await startGitServer({ root, address: '127.0.0.2', onRequest: (req: IncomingMessage) => void agents.push(req.headers['user-agent'] ?? '') });
    port = Number(new URL(good.url).port);
    try {
      evil = await startGitServer({ root, address: '127.0.0.1', port });
      break;
    } catch (error) {
      await good.close();
      if (attempt === 5) throw error; // 127.0.0.1:<port> kept being taken by something else
    }
  }
});

afterAll(async () => {
  await good?.close();
  await evil?.close();
  if (temp) await rm(temp, { recursive: true, force: true });
});

const repoOf = (): RepoRef => parseRepoUrl(`http://localhost:${port}/fixtures/basic`, { allowedHosts: [`localhost:${port}`], allowHttp: true });

/** Answers `first` to the first question and `then` to every later one, as a rebinding DNS does. */
function rebinding(first: string, then: string): Resolver & { calls: number } {
  const answer = (address: string): ResolvedAddress[] => [{ address, family: address.includes(':') ? 6 : 4 }];
  const resolve = Object.assign(async () => answer(resolve.calls++ === 0 ? first : then), { calls: 0 });
  return resolve;
}

function contextWith(resolve: Resolver, allowedDestinations: string[] = []): GitContext {
  return createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations, resolve });
}

async function refusal(promise: Promise<unknown>): Promise<FerryError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FerryError);
  return error as FerryError;
}

describe('a repository whose host resolves to an internal address', () => {
  it.each([['127.0.0.1'], ['100.100.100.200'], ['169.254.169.254'], ['::1']])(
    'resolving to %s: every git path refuses it with DESTINATION_FORBIDDEN, and no request reaches a server',
    async (address) => {
      const before = good.requests + evil.requests;
      const git = contextWith(rebinding(address, address));
      const mirrors = new MirrorCache({ workDir: join(temp, `work-${address.replace(/[:.]/g, '-')}`), git });
      const attempts: Array<Promise<unknown>> = [
        resolveRef(repoOf(), { kind: 'default' }, git),
        resolveRef(repoOf(), { kind: 'name', name: 'main' }, git),
        listRemoteRefs(repoOf(), git),
        assertCommitExists(repoOf(), commit, git),
        mirrors.fetch(repoOf(), commit),
        mirrors.fetchAll(repoOf()),
      ];
      for (const settled of await Promise.allSettled(attempts)) {
        const error = await refusal(settled.status === 'rejected' ? Promise.reject(settled.reason) : Promise.resolve(settled.value));
        expect(error.code).toBe('DESTINATION_FORBIDDEN');
        expect(error.message).toContain(`localhost:${port}`);
        expect(error.message).not.toContain(address);
      }
      expect(good.requests + evil.requests).toBe(before);
    },
  );

  it('is reached when its exact host:port is allowed (FERRY_ALLOWED_DESTINATIONS), at the checked address', async () => {
    const before = evil.requests;
    const git = contextWith(rebinding('127.0.0.2', '127.0.0.2'), [`localhost:${port}`]);
    await expect(resolveRef(repoOf(), { kind: 'name', name: 'main' }, git)).resolves.toMatchObject({ commit });
    expect(evil.requests).toBe(before);
  });
});

describe('DNS rebinding: allowed at check time, internal at the next answer', () => {
  it('the setup is real: unpinned, git asks the system resolver and localhost reaches the other server', async () => {
    const before = evil.requests;
    await promisify(execFile)('git', ['ls-remote', `http://localhost:${port}/fixtures/basic`], { env: gitEnv({ allowHttp: true }) });
    expect(evil.requests).toBeGreaterThan(before);
  });

  it('git (fetch, clone) connects only to the checked address: http.curloptResolve', async () => {
    const goodBefore = good.requests;
    const evilBefore = evil.requests;
    // Each exchange pins anew, so each gets a resolver whose first answer is the allowed 127.0.0.2.
    const shallow = new MirrorCache({ workDir: join(temp, 'rebind-fetch'), git: contextWith(rebinding('127.0.0.2', '127.0.0.1'), [`127.0.0.2:${port}`]) });
    (await shallow.fetch(repoOf(), commit)).release();
    const full = new MirrorCache({ workDir: join(temp, 'rebind-clone'), git: contextWith(rebinding('127.0.0.2', '127.0.0.1'), [`127.0.0.2:${port}`]) });
    const lease = await full.fetchAll(repoOf());
    expect(lease.refs.get('refs/heads/main')).toBe(commit);
    lease.release();
    expect(good.requests).toBeGreaterThan(goodBefore);
    expect(evil.requests).toBe(evilBefore);
  });

  it('node:http (ls-refs, the commit probe) connects only to the checked address: the pinned lookup', async () => {
    const goodBefore = good.requests;
    const evilBefore = evil.requests;
    agents.length = 0;
    const allowed = [`127.0.0.2:${port}`];
    const listed = contextWith(rebinding('127.0.0.2', '127.0.0.1'), allowed);
    expect(await resolveRef(repoOf(), { kind: 'name', name: 'main' }, listed)).toMatchObject({ commit });
    // The second listing on the same context asks DNS again and gets 127.0.0.1: refused, not connected.
    expect((await refusal(resolveRef(repoOf(), { kind: 'name', name: 'main' }, listed))).code).toBe('DESTINATION_FORBIDDEN');
    await assertCommitExists(repoOf(), commit, contextWith(rebinding('127.0.0.2', '127.0.0.1'), allowed));
    expect(good.requests).toBeGreaterThan(goodBefore);
    expect(agents.every((agent) => agent.includes('ferry'))).toBe(true); // the in-process requests, not git's
    expect(evil.requests).toBe(evilBefore);
  });

  it('git ls-remote (the fallback when the in-process listing has no clean answer) is pinned too', async () => {
    const evilBefore = evil.requests;
    const goodBefore = good.requests;
    // A proxy variable turns the in-process path off (git is the one place for proxies); NO_PROXY sends loopback direct.
    const git = createGitContext({
      allowHttp: true,
      timeoutMs: 30_000,
      allowedDestinations: [`127.0.0.2:${port}`],
      resolve: rebinding('127.0.0.2', '127.0.0.1'),
      processEnv: { ...process.env, http_proxy: 'http://127.0.0.1:9', NO_PROXY: 'localhost' },
    });
    const answer = await listRemoteRefs(repoOf(), git);
    expect(answer.refs.find((ref) => ref.name === 'refs/heads/main')?.oid).toBe(commit);
    expect(good.requests).toBeGreaterThan(goodBefore);
    expect(evil.requests).toBe(evilBefore);
  });
});
