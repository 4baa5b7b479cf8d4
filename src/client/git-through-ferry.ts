// `ferry clone` and `ferry pull` are stock git with the remote helper doing the transfer: this runs one
// git command so that the helper it starts finds this command's gateway (or the embedded stack this
// command started), and relays the helper's progress events back as ferry's own bars.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { FerryError } from '../protocol/errors.js';
import { openEndpoint, type EmbeddedSettings, type EndpointSettings } from './endpoint.js';
import type { CliEvent } from './events.js';
import { usageError } from './options.js';
import { createView } from './progress-view.js';
import { EVENTS_SOCKET_ENV } from './remote-helper/event-relay.js';

/** What makes git hand a URL to git-remote-ferry. */
export const FERRY_PREFIX = 'ferry::';

export interface GitThroughFerryOptions {
  /** git's arguments, e.g. ['clone', 'ferry::https://…', 'dir']. */
  args: string[];
  cwd?: string | undefined;
  endpoint: EndpointSettings;
  local?: EmbeddedSettings;
  /** The helper's events; when given, the helper sends them here instead of printing its own progress. */
  onEvent?: ((event: CliEvent) => void) | undefined;
  /** Extra environment for git (and so for the helper). */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** Runs git to its end with the endpoint in the helper's environment; resolves git's exit code. */
export async function runGitThroughFerry(options: GitThroughFerryOptions): Promise<number> {
  const endpoint = await openEndpoint(options.endpoint, options.local);
  if (endpoint.embedded) options.onEvent?.({ type: 'local-stack', gateway: endpoint.gateway });
  const relay = options.onEvent ? await startEventRelay(options.onEvent) : undefined;
  try {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      FERRY_GATEWAY: endpoint.gateway,
      FERRY_APP_KEY: endpoint.credentials?.appKey ?? '',
      FERRY_APP_SECRET: endpoint.credentials?.appSecret ?? '',
      ...(relay && { [EVENTS_SOCKET_ENV]: relay.path }),
    };
    return await new Promise<number>((resolve, reject) => {
      const git = spawn('git', options.args, { cwd: options.cwd, env, stdio: ['ignore', 'inherit', 'inherit'], signal: options.signal });
      git.once('error', (error: NodeJS.ErrnoException) => {
        if (error.name === 'AbortError') reject(new FerryError('INTERRUPTED', 'Interrupted.'));
        else reject(new FerryError('GIT_FAILED', error.code === 'ENOENT' ? 'git is not on PATH: install git 2.32 or later.' : error.message));
      });
      git.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  } finally {
    await relay?.close();
    await endpoint.close();
  }
}

interface EventRelay {
  path: string;
  close(): Promise<void>;
}

/** A unix socket in a private temp dir; each helper connection sends JSON lines of CliEvent. */
async function startEventRelay(onEvent: (event: CliEvent) => void): Promise<EventRelay> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-events-'));
  const path = join(dir, 'events.sock');
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    createInterface({ input: socket, crlfDelay: Infinity }).on('line', (line) => {
      try {
        onEvent(JSON.parse(line) as CliEvent);
      } catch {
        // A line that is not an event is dropped: progress is never worth failing the command.
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The repository URL as git takes it without ferry (`ferry::` is ferry's to add). No credentials (they
 * would travel to the worker in GET /refs), and nothing a git `-c key=value` could misread (`=`).
 */
export function plainUrl(url: string): string {
  const trimmed = url.trim().startsWith(FERRY_PREFIX) ? url.trim().slice(FERRY_PREFIX.length) : url.trim();
  if (!/^https?:\/\/[^/\s]+\/\S+$/i.test(trimmed)) throw usageError(`expected a repository URL such as https://github.com/owner/repo, got "${url}"`);
  if (/^https?:\/\/[^/]*@/i.test(trimmed)) throw usageError('the repository URL carries credentials: ferry fetches public repositories; give the URL without user:token@');
  if (/[?#=\\]/.test(trimmed)) throw usageError(`a repository URL has no query, fragment, "=" or backslash, got "${url}"`);
  return trimmed;
}

/** Runs git through ferry with the command's progress view (none with quiet); resolves git's exit code. */
export async function runGitWithView(
  args: string[],
  settings: { endpoint: EndpointSettings; local: EmbeddedSettings },
  flags: { quiet?: boolean | undefined; json?: boolean | undefined },
  cwd?: string,
): Promise<number> {
  const view = flags.quiet ? undefined : await createView(flags.json ? 'json' : 'auto');
  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runGitThroughFerry({
      args,
      cwd,
      endpoint: settings.endpoint,
      local: { ...settings.local, onWarning: (message) => view?.event({ type: 'warning', message }) },
      onEvent: view && ((event) => view.event(event)),
      signal: interrupt.signal,
    });
  } finally {
    view?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
