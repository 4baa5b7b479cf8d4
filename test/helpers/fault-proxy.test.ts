// The fault proxy against real local servers: a raw TCP server that sends a known body, and a node:http
// server behind a kept-alive agent. Each fault is checked by what the client and the server saw.
import { createHash, randomBytes } from 'node:crypto';
import { Agent, createServer as createHttpServer, request, type IncomingMessage } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from './fault-proxy.js';
import { waitFor } from './wait.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BODY = randomBytes(256 * 1024);
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A TCP server that sends BODY to each connection, then ends; it records what each client sent it. */
async function bodyServer(): Promise<{ port: number; received: Buffer[]; finished: () => number }> {
  const received: Buffer[] = [];
  let finished = 0;
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const chunks: Buffer[] = [];
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => {
      sockets.delete(socket);
      received.push(Buffer.concat(chunks));
    });
    socket.end(BODY, () => finished++);
  });
  return { port: await listen(server, sockets), received, finished: () => finished };
}

async function listen(server: Server, sockets: Set<Socket>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  );
  return (server.address() as AddressInfo).port;
}

async function proxy(port: number, options: Partial<FaultProxyOptions> = {}): Promise<FaultProxy> {
  const started = await startFaultProxy({ target: { host: '127.0.0.1', port }, ...options });
  cleanups.push(() => started.close());
  return started;
}

interface RawResult {
  data: Buffer;
  error?: string;
  ended: boolean;
}

/** Connects through the proxy, optionally sends `send`, and collects what arrives; `done` settles when the socket closes. */
function openRaw(p: FaultProxy, send?: Buffer): { live: RawResult; done: Promise<RawResult> } {
  const socket = connect({ host: p.host, port: p.port });
  const chunks: Buffer[] = [];
  const live: RawResult = { data: Buffer.alloc(0), ended: false };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    live.data = Buffer.concat(chunks);
  });
  if (send) socket.end(send);
  socket.on('end', () => (live.ended = true));
  socket.on('error', (e: NodeJS.ErrnoException) => (live.error = e.code ?? e.message));
  return { live, done: new Promise((resolve) => socket.on('close', () => resolve(live))) };
}

const fetchRaw = (p: FaultProxy, send?: Buffer): Promise<RawResult> => openRaw(p, send).done;

describe('fault proxy, per connection', () => {
  it('passes bytes unchanged both ways and counts them', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port);
    const sent = randomBytes(10_000);
    const result = await fetchRaw(p, sent);
    expect(sha(result.data)).toBe(sha(BODY));
    await waitFor(() => server.received.length === 1, 10_000, 'the server to see the close');
    expect(sha(server.received[0] as Buffer)).toBe(sha(sent));
    expect(p.stats).toMatchObject({ connections: 1, faults: 0, bytesDown: BODY.length, bytesUp: sent.length });
  });

  it('drops a connection with a FIN or a reset', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'drop' } } });
    expect(await fetchRaw(p)).toMatchObject({ data: Buffer.alloc(0), ended: true });
    p.setRule({ type: 'drop', reset: true });
    const reset = await fetchRaw(p);
    expect(reset.data.length).toBe(0);
    expect(reset.error).toBe('ECONNRESET');
    expect(p.stats.faults).toBe(2);
  });

  it('cuts the response at byte N on the first connection only, then passes', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'cut', atByte: 100_000 }, times: 1 } });
    const cut = await fetchRaw(p);
    expect(cut.data.length).toBe(100_000);
    expect(cut.data.equals(BODY.subarray(0, 100_000))).toBe(true);
    const whole = await fetchRaw(p);
    expect(sha(whole.data)).toBe(sha(BODY));
    expect(p.stats.faults).toBe(1);
  });

  it('cuts with a reset when asked', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'cut', atByte: 1000, reset: true } } });
    const cut = await fetchRaw(p);
    // Bytes queued at the receiver when the reset lands may end cleanly instead: only the cut is sure.
    expect(cut.data.length).toBeLessThanOrEqual(1000);
    expect(cut.data.equals(BODY.subarray(0, cut.data.length))).toBe(true);
  });

  it('cuts the request at byte N: the server sees exactly N bytes', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'cut', atByte: 5000, direction: 'up' } } });
    const sent = randomBytes(50_000);
    await fetchRaw(p, sent);
    await waitFor(() => server.received.length === 1, 10_000, 'the server to see the close');
    expect((server.received[0] as Buffer).equals(sent.subarray(0, 5000))).toBe(true);
  });

  it('stalls after N bytes and keeps the connection open until told to end it', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'stall', afterBytes: 4096 } } });
    const { live, done } = openRaw(p);
    // The server has sent everything and ended; the client still has its socket, with 4096 bytes.
    await waitFor(() => server.finished() === 1 && live.data.length === 4096, 10_000, 'the server to finish');
    expect(p.stats).toMatchObject({ open: 1, bytesDown: 4096, faults: 1 });
    expect(live.ended).toBe(false);
    p.destroyConnections();
    const result = await done;
    expect(result.data.equals(BODY.subarray(0, 4096))).toBe(true);
  });

  it('faults every n-th connection deterministically', async () => {
    const server = await bodyServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'drop' }, every: 3 } });
    const sizes: number[] = [];
    for (let i = 0; i < 7; i++) sizes.push((await fetchRaw(p)).data.length);
    expect(sizes).toEqual([BODY.length, BODY.length, 0, BODY.length, BODY.length, 0, BODY.length]);
    expect(p.stats).toMatchObject({ connections: 7, faults: 2 });
  });
});

/** An HTTP server that answers each request with its method, path and the sha256 of its body, then BODY. */
async function httpServer(): Promise<{ port: number; requests: string[] }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((req, res) => {
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => hash.update(chunk));
    req.on('end', () => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-length': BODY.length, 'x-body-sha256': hash.digest('hex') });
      res.end(BODY);
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return { port: await listen(server as unknown as Server, sockets), requests };
}

interface HttpResult {
  status?: number;
  bodySha?: string;
  sha?: string;
  error?: string;
}

async function httpCall(p: FaultProxy, agent: Agent, path: string, body?: Buffer, chunked = false): Promise<HttpResult> {
  return new Promise<HttpResult>((resolve) => {
    const headers: Record<string, string | number> = chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': body?.length ?? 0 };
    const req = request({ host: p.host, port: p.port, path, method: body ? 'POST' : 'GET', agent, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, sha: sha(Buffer.concat(chunks)), bodySha: String(res.headers['x-body-sha256'] ?? '') }),
      );
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: res.statusCode ?? 0, error: error.code ?? error.message }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    if (body && chunked) {
      // Several chunks, so framing spans writes.
      for (let i = 0; i < body.length; i += 7000) req.write(body.subarray(i, i + 7000));
      req.end();
    } else req.end(body);
  });
}

describe('fault proxy, per HTTP request', () => {
  const keepAlive = (): Agent => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => agent.destroy());
    return agent;
  };

  it('answers 503 to every 4th request on one kept-alive connection, framing bodies of both kinds', async () => {
    const server = await httpServer();
    const p = await proxy(server.port, { unit: 'request', rule: { fault: { type: 'http', status: 503 }, every: 4 } });
    const agent = keepAlive();
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++) {
      const body = randomBytes(20_000 + i);
      const result = await httpCall(p, agent, `/part/${i}`, body, i % 2 === 0);
      statuses.push(result.status ?? 0);
      if (result.status === 200) {
        expect(result.bodySha).toBe(sha(body));
        expect(result.sha).toBe(sha(BODY));
      }
    }
    expect(statuses).toEqual([200, 200, 200, 503, 200, 200, 200, 503]);
    expect(server.requests).toEqual(['POST /part/1', 'POST /part/2', 'POST /part/3', 'POST /part/5', 'POST /part/6', 'POST /part/7']);
    expect(p.stats).toMatchObject({ requests: 8, faults: 2 });
  });

  it('cuts the response of the first matching request only', async () => {
    const server = await httpServer();
    const p = await proxy(server.port, {
      unit: 'request',
      rule: { fault: { type: 'cut', atByte: 50_000 }, times: 1, match: (head) => head.path.startsWith('/pack') },
    });
    const agent = keepAlive();
    expect((await httpCall(p, agent, '/refs')).sha).toBe(sha(BODY));
    const cut = await httpCall(p, agent, '/pack');
    expect(cut.sha).toBeUndefined();
    expect(cut.error).toBeDefined();
    expect((await httpCall(p, agent, '/pack')).sha).toBe(sha(BODY));
    expect(p.stats.faults).toBe(1);
  });

  it('answers an HTTP error per connection after reading the request head', async () => {
    const server = await httpServer();
    const p = await proxy(server.port, { rule: { fault: { type: 'http', status: 500, body: 'boom' }, times: 1 } });
    const agent = keepAlive();
    expect(await httpCall(p, agent, '/a', randomBytes(100_000))).toMatchObject({ status: 500 });
    expect(await httpCall(p, agent, '/b')).toMatchObject({ status: 200, sha: sha(BODY) });
    expect(server.requests).toEqual(['GET /b']);
  });

  it('stalls a response and lets a changed rule pass the next request', async () => {
    const server = await httpServer();
    const p = await proxy(server.port, { unit: 'request', rule: { fault: { type: 'stall', afterBytes: 100 } } });
    const stalled = httpCall(p, keepAlive(), '/slow');
    await waitFor(() => p.stats.faults === 1, 10_000, 'the stall');
    p.setRule({ type: 'pass' });
    expect(await httpCall(p, keepAlive(), '/fast')).toMatchObject({ status: 200, sha: sha(BODY) });
    p.destroyConnections();
    expect((await stalled).sha).toBeUndefined();
  });
});
