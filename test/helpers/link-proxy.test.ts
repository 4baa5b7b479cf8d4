// The link proxy carries bytes unchanged and passes ends and closes through. What it does to time
// (delay, rates) is what the benchmarks measure; no test asserts it.
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startLinkProxy, type LinkProxy, type LinkProxyOptions } from './link-proxy.js';

// A short, fast link keeps the tests quick; the profiles' own figures are for the bench.
const FAST: Omit<LinkProxyOptions, 'target'> = { rttMs: 4, perConnectionBytesPerSec: 200e6, totalBytesPerSec: 400e6 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function listen(onSocket: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return { server, port: (server.address() as AddressInfo).port };
}

async function proxyTo(port: number | (() => number), options: Partial<LinkProxyOptions> = {}): Promise<LinkProxy> {
  const target = typeof port === 'function' ? () => ({ host: '127.0.0.1', port: port() }) : { host: '127.0.0.1', port };
  const proxy = await startLinkProxy({ ...FAST, target, ...options });
  cleanups.push(() => proxy.close());
  return proxy;
}

/** Everything a socket sends until it ends. */
async function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(socket, 'end');
  return Buffer.concat(chunks);
}

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A server that reads the whole request until the client's end, then answers `reply(request)` and ends. */
async function replyServer(reply: (request: Buffer) => Buffer): Promise<number> {
  const { port } = await listen((socket) => {
    void readAll(socket).then((request) => socket.end(reply(request)));
  });
  return port;
}

async function exchange(port: number, request: Buffer): Promise<Buffer> {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const response = readAll(socket);
  socket.end(request);
  return response;
}

describe('link proxy', () => {
  it('carries a large payload unchanged in both directions, through a small buffer bound', async () => {
    const upload = randomBytes(6 * 1024 * 1024);
    const answer = randomBytes(5 * 1024 * 1024 + 17);
    const port = await replyServer((request) => Buffer.concat([Buffer.from(sha(request)), answer]));
    // A bound far below the payload: the senders are paused and resumed many times on the way.
    const proxy = await proxyTo(port, { maxBufferedBytes: 64 * 1024 });
    const response = await exchange(proxy.port, upload);
    expect(response.subarray(0, 64).toString()).toBe(sha(upload));
    expect(sha(response.subarray(64))).toBe(sha(answer));
    expect(proxy.stats.connections).toBe(1);
    expect(proxy.stats.bytesUp).toBe(upload.length);
    expect(proxy.stats.bytesDown).toBe(64 + answer.length);
    expect(proxy.stats.bytes).toBe(upload.length + 64 + answer.length);
  });

  it('carries many connections at once, each with its own bytes', async () => {
    const port = await replyServer((request) => Buffer.concat([request, request]));
    const proxy = await proxyTo(port, { perConnectionBytesPerSec: 20e6, totalBytesPerSec: 100e6 });
    const requests = Array.from({ length: 24 }, (_, i) => randomBytes(64 * 1024 + i * 997));
    const responses = await Promise.all(requests.map((request) => exchange(proxy.port, request)));
    responses.forEach((response, i) => {
      const request = requests[i] as Buffer;
      expect(sha(response)).toBe(sha(Buffer.concat([request, request])));
    });
    expect(proxy.stats.connections).toBe(24);
  });

  it('passes a half-close through: the client ends its side and still reads the answer', async () => {
    const serverSaw: string[] = [];
    const { port } = await listen((socket) => {
      socket.on('data', (chunk: Buffer) => serverSaw.push(chunk.toString()));
      socket.on('end', () => {
        serverSaw.push('<end>');
        // The server's side is still open after the client's end: it answers, then ends too.
        socket.write('late ');
        setTimeout(() => socket.end('answer'), 20);
      });
    });
    const proxy = await proxyTo(port);
    const socket = connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    const response = readAll(socket);
    socket.end('question');
    expect((await response).toString()).toBe('late answer');
    expect(serverSaw.join('')).toBe('question<end>');
    await once(socket, 'close');
  });

  it("passes the server's end and a reset through to the client", async () => {
    const { port } = await listen((socket) => {
      socket.once('data', (chunk: Buffer) => {
        if (chunk.toString() === 'end') socket.end('bye');
        else socket.resetAndDestroy();
      });
    });
    const proxy = await proxyTo(port);
    const ended = connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    const response = readAll(ended);
    ended.write('end');
    expect((await response).toString()).toBe('bye');
    ended.end();

    const reset = connect({ host: '127.0.0.1', port: proxy.port });
    reset.on('error', () => undefined);
    reset.write('reset');
    await once(reset, 'close');
    // Both connections are finished at the proxy too.
    await waitFor(() => proxy.stats.open === 0);
  });

  it('reads a target given as a function at each connection', async () => {
    const first = await replyServer(() => Buffer.from('first'));
    const second = await replyServer(() => Buffer.from('second'));
    let port = first;
    const proxy = await proxyTo(() => port);
    expect((await exchange(proxy.port, Buffer.from('x'))).toString()).toBe('first');
    port = second;
    expect((await exchange(proxy.port, Buffer.from('x'))).toString()).toBe('second');
  });

  it('close() ends every open connection and stops listening', async () => {
    const { port } = await listen((socket) => socket.on('data', () => undefined));
    const proxy = await startLinkProxy({ ...FAST, target: { host: '127.0.0.1', port } });
    const sockets = Array.from({ length: 3 }, () => connect({ host: '127.0.0.1', port: proxy.port }));
    for (const socket of sockets) {
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write('hello');
    }
    await waitFor(() => proxy.stats.open === 3);
    await proxy.close();
    await Promise.all(sockets.map((socket) => (socket.closed ? undefined : once(socket, 'close'))));
    const refused = connect({ host: '127.0.0.1', port: proxy.port });
    const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('refuses options that make no link', async () => {
    const target = { host: '127.0.0.1', port: 1 };
    await expect(startLinkProxy({ target, rttMs: -1, perConnectionBytesPerSec: 1 })).rejects.toThrow(/rttMs/);
    await expect(startLinkProxy({ target, rttMs: 0, perConnectionBytesPerSec: 0 })).rejects.toThrow(/perConnectionBytesPerSec/);
  });
});

/** Polls a condition the proxy reaches after a socket event (no timing is asserted). */
async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
