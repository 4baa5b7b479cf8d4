// When `ferry clone` or `ferry pull` runs git, the helper git starts sends its events (the worker's
// phases, the download's bytes) to that command over a unix socket, which draws them as ferry's bars;
// run by git directly, the helper prints git-style progress itself (progress.ts).
import { connect, type Socket } from 'node:net';
import type { CliEvent } from '../events.js';

/** The socket's path, set by git-through-ferry.ts for the git it runs. */
export const EVENTS_SOCKET_ENV = 'FERRY_EVENTS_SOCKET';

export interface EventRelayClient {
  send(event: CliEvent): void;
  close(): Promise<void>;
}

/** Connects to the command's socket; undefined when the helper was not started by ferry. */
export async function connectEventRelay(env: NodeJS.ProcessEnv): Promise<EventRelayClient | undefined> {
  const path = env[EVENTS_SOCKET_ENV];
  if (!path) return undefined;
  const socket = await new Promise<Socket | undefined>((resolve) => {
    const attempt = connect(path);
    attempt.once('connect', () => resolve(attempt));
    // A socket that is gone (the command exited) means no one is watching: carry on without events.
    attempt.once('error', () => resolve(undefined));
  });
  if (!socket) return undefined;
  socket.on('error', () => undefined);
  return {
    send(event) {
      if (!socket.destroyed) socket.write(`${JSON.stringify(event)}\n`);
    },
    close: () => new Promise<void>((resolve) => socket.end(() => resolve())),
  };
}
