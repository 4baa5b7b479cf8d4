// Real sockets on loopback, so clients and the worker talk to it exactly as they talk to Alibaba Cloud's
// gateway.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { answerClientError, rawResponse } from './client-error.js';
import { Connection } from './connection.js';
import { createCore } from './core.js';
import { DeviceRegistry } from './devices.js';
import { createHostPolicy, screen, type HostPolicy } from './guard.js';
import { createHttpHandler } from './http.js';
import { createRateLimiter } from './ratelimit.js';
import { compileRoutes } from './routes.js';
import type { Gateway, GatewayOptions } from './types.js';

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const keepAliveMs = positive('keepAliveMs', opts.keepAliveMs ?? 25_000);
  const maxBodyBytes = positive('maxBodyBytes', opts.maxBodyBytes ?? 1024 * 1024);
  const maxMessagesPerSecond = positive('maxMessagesPerSecond', opts.maxMessagesPerSecond ?? 100);
  const requestTimeoutMs = positive('requestTimeoutMs', opts.requestTimeoutMs ?? 30_000);
  const maxHeaderBytes = positive('maxHeaderBytes', opts.maxHeaderBytes ?? 16 * 1024);
  const maxLifetimeMs = opts.maxConnectionLifetimeMs === undefined ? undefined : positive('maxConnectionLifetimeMs', opts.maxConnectionLifetimeMs);
  const log = opts.log ?? ((line: string) => console.warn(line));

  const route = compileRoutes(opts.apis);
  const devices = new DeviceRegistry();
  const core = createCore({
    route,
    secrets: new Map(opts.apps.map((app) => [app.appKey, app.appSecret])),
    backend: opts.backend,
    devices,
    log,
    ...(opts.anonymousRateLimit ? { anonymousLimiter: createRateLimiter(opts.anonymousRateLimit.perMinute) } : {}),
  });

  const hosts = createHostPolicy({ host: opts.host ?? '127.0.0.1', publicHost: opts.publicHost, allowedOrigins: opts.allowedOrigins });
  const server = createServer(
    {
      maxHeaderSize: maxHeaderBytes,
      // Headers and body alike: a client that stops sending mid-request is answered 408, not held for Node's 300 s.
      requestTimeout: requestTimeoutMs,
      headersTimeout: requestTimeoutMs,
      // How often Node looks for requests past their time: the timeout's bound is this much late at most.
      connectionsCheckingInterval: Math.min(1000, requestTimeoutMs),
    },
    createHttpHandler({ core, route, staticDir: opts.staticDir, maxBodyBytes, hosts }),
  );
  // Frames above the limit make `ws` close that connection with 1009; other clients are unaffected.
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxBodyBytes });
  const open = new Set<Connection>();

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    // Browsers let any page open a websocket anywhere: only the gateway's own page, or a client that is no page.
    const refusal = refuseUpgrade(hosts, req.headers);
    if (refusal) return void socket.end(refusal);
    wss.handleUpgrade(req, socket, head, (ws) => {
      const connection = new Connection({
        socket: ws,
        clientIp: req.socket.remoteAddress ?? '',
        core,
        devices,
        keepAliveMs,
        maxLifetimeMs,
        maxMessagesPerSecond,
        onClose: () => open.delete(connection),
      });
      open.add(connection);
    });
  });
  server.on('clientError', (error: Error & { code?: string }, socket) => answerClientError(error, socket, { maxHeaderBytes, requestTimeoutMs }));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host && opts.host !== '0.0.0.0' && opts.host !== '::' ? opts.host : '127.0.0.1';
  const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

  return {
    url: `http://${authority}`,
    wsUrl: `ws://${authority}`,
    port,
    connections: () => open.size,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function refuseUpgrade(hosts: HostPolicy, headers: IncomingHttpHeaders): Buffer | undefined {
  // As a POST: a foreign Origin is refused like one that could change something.
  const refusal = screen(hosts, 'UPGRADE', headers);
  return refusal && rawResponse(refusal);
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`Expected \`${name}\` to be a positive number, got ${value}`);
  return value;
}
