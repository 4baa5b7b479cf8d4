import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { authority, isLoopbackHost, isWildcardHost } from '../reachable-host.js';
import { resolveAddresses } from './address.js';
import { authenticate, type AuthContext } from './auth.js';
import { randomName } from './disk.js';
import { OssError } from './errors.js';
import { sendError, type OssContext } from './http.js';
import { parseQuery } from './query.js';
import { route } from './routes.js';
import { ObjectStore } from './store.js';
import type { OssAddress, OssServer, OssServerOptions } from './types.js';

interface Services {
  auth: AuthContext;
  store: ObjectStore;
}

function checkOptions(options: OssServerOptions): void {
  if (typeof options.dataDir !== 'string' || options.dataDir === '') {
    throw new TypeError(`Expected \`dataDir\` to be a non-empty string, got ${JSON.stringify(options.dataDir)}`);
  }
  if (!Array.isArray(options.credentials) || options.credentials.length === 0) {
    throw new TypeError('Expected `credentials` to hold at least one access key: the local OSS never allows anonymous access');
  }
  if (options.abandonedUploadMs !== undefined && !(Number.isFinite(options.abandonedUploadMs) && options.abandonedUploadMs >= 0)) {
    throw new TypeError(`Expected \`abandonedUploadMs\` to be a number of milliseconds >= 0, got ${String(options.abandonedUploadMs)}`);
  }
  for (const credential of options.credentials) {
    if (!credential.accessKeyId || !credential.accessKeySecret) {
      throw new TypeError('Expected every credential to have a non-empty `accessKeyId` and `accessKeySecret`');
    }
  }
}

/**
 * Authenticates against each reading of the address (see address.ts) and keeps the first that
 * verifies; when none does, the error for the most likely reading is the one reported.
 */
function authenticated(services: Services, req: IncomingMessage, query: OssContext['query'], candidates: OssAddress[]): OssAddress {
  let firstError: unknown;
  for (const address of candidates) {
    try {
      authenticate(services.auth, { method: req.method ?? 'GET', headers: req.headers, query, address });
      return address;
    } catch (error) {
      firstError ??= error;
      if (!(error instanceof OssError && error.code === 'SignatureDoesNotMatch')) break;
    }
  }
  throw firstError;
}

async function handle(services: Services, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomName(12).toUpperCase();
  const method = req.method ?? 'GET';
  res.setHeader('x-oss-request-id', requestId);
  res.setHeader('server', 'AliyunOSS');
  // A client that hangs up must not take the server down with an unhandled 'error' event.
  req.on('error', () => undefined);
  res.on('error', () => undefined);
  try {
    const url = req.url ?? '/';
    const mark = url.indexOf('?');
    const rawPath = mark === -1 ? url : url.slice(0, mark);
    if (!rawPath.startsWith('/')) throw new OssError(400, 'InvalidURI', 'Could not parse the specified URI.');
    const query = parseQuery(mark === -1 ? '' : url.slice(mark + 1));
    const address = authenticated(services, req, query, resolveAddresses(req.headers.host, rawPath));
    const ctx: OssContext = { req, res, method, query, address, requestId, store: services.store };
    await route(ctx);
  } catch (error) {
    const ossError =
      error instanceof OssError ? error : new OssError(500, 'InternalError', `The local OSS store failed: ${(error as Error).message ?? String(error)}`);
    sendError(res, method, requestId, req.headers.host ?? 'localhost', ossError);
  }
}

// OSS's lifecycle rule in template.yml aborts unfinished uploads after a day: the same here.
const DEFAULT_ABANDONED_UPLOAD_MS = 24 * 3600 * 1000;

/** Starts the OSS-compatible store (on loopback unless `host` says otherwise); resolves once it is listening. */
export async function startOssServer(options: OssServerOptions): Promise<OssServer> {
  checkOptions(options);
  const host = options.host ?? '127.0.0.1';
  const region = options.region ?? 'oss-cn-hangzhou';
  const store = new ObjectStore(resolve(options.dataDir));
  await store.init(options.buckets ?? []);
  const abandonedUploadMs = options.abandonedUploadMs ?? DEFAULT_ABANDONED_UPLOAD_MS;
  await store.uploads.sweepOlderThan(abandonedUploadMs);
  const sweeping = setInterval(() => void store.uploads.sweepOlderThan(abandonedUploadMs).catch(() => 0), Math.min(Math.max(abandonedUploadMs / 4, 1000), 3600_000));
  sweeping.unref();
  const services: Services = {
    store,
    auth: {
      credentials: new Map(options.credentials.map((credential) => [credential.accessKeyId, credential])),
      // V4 scopes carry the standard region; ali-oss strips the "oss-" prefix the same way.
      region: region.replace(/^oss-/, ''),
      now: Date.now,
    },
  };
  const server = createServer((req, res) => void handle(services, req, res));
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;
  const internalHost = isWildcardHost(host) ? '127.0.0.1' : host;
  const publicHost = options.publicHost ?? (isWildcardHost(host) || isLoopbackHost(host) ? 'localhost' : host);
  return {
    endpoint: `http://${authority(internalHost, port)}`,
    pathStyleEndpoint: `http://${authority(publicHost, port)}`,
    port,
    region: region.startsWith('oss-') ? region : `oss-${region}`,
    close: () =>
      new Promise<void>((resolveClose, reject) => {
        clearInterval(sweeping);
        server.close((error) => (error ? reject(error) : resolveClose()));
        server.closeAllConnections();
      }),
  };
}
