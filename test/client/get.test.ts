/**
 * ferryGet as a library call: a stop (Ctrl+C) before the job wait must end the command at once,
 * not after the gateway client has used up its reconnect attempts.
 */
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ferryGet } from '../../src/client/get.js';

/** A TCP server that hangs up on every connection, so each websocket attempt fails; it counts them. */
async function refusingGateway(onConnection: (count: number) => void = () => undefined): Promise<{ url: string; attempts: () => number; server: Server }> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.destroy();
    onConnection(count);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, attempts: () => count, server };
}

let servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  servers = [];
});

describe('ferryGet', () => {
  it('an abort while connecting stops with INTERRUPTED and makes no further attempt', async () => {
    const controller = new AbortController();
    // Aborted as the first attempt fails: on its own the client would try 8 times (about 20 s).
    const gateway = await refusingGateway(() => controller.abort());
    servers.push(gateway.server);
    const result = ferryGet({ url: 'https://github.com/a/b', format: 'zip', gateway: gateway.url, timeoutMs: 60_000, signal: controller.signal });
    await expect(result).rejects.toMatchObject({ code: 'INTERRUPTED', message: 'Interrupted.' });
    expect(gateway.attempts()).toBe(1);
  });

  it('--timeout covers connecting too', async () => {
    const gateway = await refusingGateway();
    servers.push(gateway.server);
    const result = ferryGet({ url: 'https://github.com/a/b', format: 'zip', gateway: gateway.url, timeoutMs: 300 });
    await expect(result).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringMatching(/--timeout/) });
  });
});
