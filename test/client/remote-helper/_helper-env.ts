// Shared by the remote helper's tests: the built helper on PATH as `git-remote-ferry`, git run with no
// user config, and a TCP relay in front of the gateway that counts connections, so a test can tell
// whether anything (a push, a refused clone) reached the worker at all.
import { execFile } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { gitEnv } from '../../helpers/fixtures.js';
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
