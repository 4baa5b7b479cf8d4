// Shared by the remote helper's tests: the built helper on PATH as `git-remote-ferry`, git run with no
// user config, and a TCP relay in front of the gateway that counts connections, so a test can tell
// whether anything (a push, a refused clone) reached the worker at all.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalStack, type LocalStack } from '../../../src/local/stack.js';
import { git, gitEnv } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer, type GitServerOptions } from '../../helpers/git-server.js';
import { startLinkProxy, type LinkProfile, type LinkProxy } from '../../helpers/link-proxy.js';
import { ROOT } from '../../helpers/worker-process.js';

const execFileAsync = promisify(execFile);

/** A directory holding `git-remote-ferry` (a link to bin/git-remote-ferry.js, which loads dist/). */
export async function helperBinDir(work: string): Promise<string> {
  const dir = join(work, 'bin');
  await mkdir(dir, { recursive: true });
  await symlink(join(ROOT, 'bin/git-remote-ferry.js'), join(dir, 'git-remote-ferry'));
  return dir;
}

export interface GitRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `git <args>` resolving with its exit code and output (never rejecting), the helper reachable on PATH. */
export async function runGit(args: string[], options: { cwd?: string; bin: string; env?: NodeJS.ProcessEnv }): Promise<GitRun> {
  const env = gitEnv({ FERRY_GATEWAY: '', FERRY_APP_KEY: '', FERRY_APP_SECRET: '', ...options.env, PATH: `${options.bin}${delimiter}${process.env.PATH ?? ''}` });
  try {
    const { stdout, stderr } = await execFileAsync('git', args, { cwd: options.cwd, env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

export interface CountingRelay {
  /** ws:// URL to give the helper instead of the gateway's own. */
  url: string;
  /** Connections opened through the relay so far. */
  readonly connections: number;
  close(): Promise<void>;
}

/** Relays TCP to the gateway's port: every websocket the helper opens passes here and is counted. */
export async function startCountingRelay(gatewayWsUrl: string): Promise<CountingRelay> {
  const target = new URL(gatewayWsUrl);
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((client) => {
    connections++;
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}${target.pathname === '/' ? '' : target.pathname}`,
    get connections() {
      return connections;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const IDENTITY = { GIT_AUTHOR_NAME: 'Ferry Test', GIT_AUTHOR_EMAIL: 'test@ferry.test', GIT_COMMITTER_NAME: 'Ferry Test', GIT_COMMITTER_EMAIL: 'test@ferry.test' };

/** Everything a helper test runs against, in its own temp dir. */
export interface HelperWorld {
  work: string;
  gitServer: GitServer;
  stack: LocalStack;
  relay: CountingRelay;
  /** With `storeLink`: the proxy every signed URL points at, counting the bytes the store served. */
  storeProxy: LinkProxy | undefined;
  bin: string;
  /** XDG_CACHE_HOME of the helpers run here: their bundle downloads are under `<cache>/ferry/downloads`. */
  cache: string;
  /** The environment git hands on to the helper: the stack through the counting relay, signed. */
  helperEnv(): NodeJS.ProcessEnv;
  /** git with the helper on PATH and `helperEnv()`; cwd defaults to `work`. */
  git(args: string[], cwd?: string, env?: NodeJS.ProcessEnv): Promise<GitRun>;
  /** A copy of clone/history.git served as `<server>/up/<name>`, free to change; pushes accepted. */
  upstream(name: string): Promise<{ dir: string; url: string }>;
  close(): Promise<void>;
}

/**
 * The clone fixture (test/fixtures/make-clone-repo.sh, built into this world's temp dir), a real git
 * smart-HTTP server, a local stack that allows it over http and requires signatures, and the relay.
 */
export async function startHelperWorld(prefix: string, options: { gitServerDelayMs?: number; storeLink?: LinkProfile; gitServerAuth?: GitServerOptions['auth'] } = {}): Promise<HelperWorld> {
  const work = await mkdtemp(join(tmpdir(), prefix));
  const fixtureDir = join(work, 'fixtures');
  await execFileAsync('bash', [join(ROOT, 'test/fixtures/make-clone-repo.sh'), fixtureDir], { env: gitEnv(), timeout: 120_000 });
  const gitServer = await startGitServer({ root: join(work, 'served'), delayMs: options.gitServerDelayMs, auth: options.gitServerAuth });
  // The worker uploads to the store directly and signs its URLs for the proxy (as the link bench does).
  let ossPort = 0;
  const storeProxy = options.storeLink ? await startLinkProxy({ ...options.storeLink, target: () => ({ host: '127.0.0.1', port: ossPort }) }) : undefined;
  const workerEnv = storeProxy ? { FERRY_OSS_PUBLIC_ENDPOINT: `http://localhost:${storeProxy.port}` } : undefined;
  const stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: [gitServer.host], allowHttp: true, requireSignature: true, workerEnv });
  ossPort = Number(new URL(stack.oss).port);
  const relay = await startCountingRelay(stack.gateway);
  const bin = await helperBinDir(work);
  const cache = join(work, 'cache');
  const helperEnv = (): NodeJS.ProcessEnv => ({ FERRY_GATEWAY: relay.url, FERRY_APP_KEY: stack.appKey, FERRY_APP_SECRET: stack.appSecret, XDG_CACHE_HOME: cache, ...IDENTITY });
  return {
    work,
    gitServer,
    stack,
    relay,
    storeProxy,
    bin,
    cache,
    helperEnv,
    git: (args, cwd, env) => runGit(args, { cwd: cwd ?? work, bin, env: { ...helperEnv(), ...env } }),
    async upstream(name) {
      const dir = join(gitServer.root, 'up', `${name}.git`);
      await cp(join(fixtureDir, 'clone', 'history.git'), dir, { recursive: true });
      await git(['--git-dir', dir, 'config', 'http.receivepack', 'true']);
      return { dir, url: `${gitServer.url}/up/${name}` };
    },
    async close() {
      await relay.close();
      await storeProxy?.close();
      await stack.close();
      await gitServer.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Refs as `<oid> <name>` lines from a repository, limited to `patterns`. */
export function refsOf(repo: string, ...patterns: string[]): Promise<string> {
  return git(['-C', repo, 'for-each-ref', '--format=%(objectname) %(refname)', ...patterns]);
}

/**
 * The worker answers GET /refs from a cache of a few seconds (docs/protocol.md): waits until its listing,
 * read through the helper's `list` (`git ls-remote ferry::<url>`), shows `ref` at one of `tips`.
 */
export async function untilWorkerSees(world: HelperWorld, url: string, ref: string, tips: string[]): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt++) {
    const listed = await world.git(['ls-remote', `ferry::${url}`, ref]);
    const oid = listed.stdout.split('\t')[0];
    if (oid !== undefined && tips.includes(oid)) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`the worker's GET /refs never showed the new ${ref}`);
}

/** New history upstream (through a scratch clone): a commit with `bytes` of random data on `branch`. */
export async function commitUpstream(world: HelperWorld, url: string, branch: string, name: string, bytes: number): Promise<void> {
  const scratch = await mkdtemp(join(world.work, 'scratch-'));
  await git(['clone', '--quiet', '--branch', branch, url, scratch]);
  await writeFile(join(scratch, name), randomBytes(bytes));
  await git(['-C', scratch, 'add', '-A'], { env: IDENTITY });
  await git(['-C', scratch, 'commit', '--quiet', '-m', `Add ${name}`], { env: IDENTITY });
  await git(['-C', scratch, 'push', '--quiet', 'origin', branch]);
  await rm(scratch, { recursive: true, force: true });
}
