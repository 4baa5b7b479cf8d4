import { createHmac } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GATEWAY_SECRET_HEADER, type ApiGatewayEvent, type ApiGatewayResult } from '../protocol/apigw-event.js';
import { DEFAULT_ALLOWED_HOSTS } from '../protocol/hosts.js';
import { loadOrCreateCredentials } from './credentials.js';
import { startFcEmulator, type FcEmulator } from './fc/index.js';
import { startGateway, type GatewayApi, type GatewayOptions } from './gateway/index.js';
import { startOssServer } from './oss/index.js';
import { lockDataDir } from './data-lock.js';
import { proxyEnv } from './proxy-env.js';
import { authority, isLoopbackHost, reachableHost } from './reachable-host.js';

export interface LocalStackOptions {
  /** Where objects, mirrors and dev credentials live. */
  dataDir: string;
  /** The gateway's port (websocket, HTTP APIs and the web page); 0 picks a free one. */
  port?: number;
  /** Where the gateway and the object store listen; default loopback. */
  host?: string;
  /**
   * The host that signed links and the returned addresses name, for other machines to reach; default:
   * `host`, or the machine's first non-internal IPv4 address when `host` is 0.0.0.0 or ::.
   */
  publicHost?: string;
  /**
   * Extra `host[:port]` entries allowed on top of the defaults (a loopback git server in tests). One with an
   * explicit port is also an allowed destination for the SSRF guard: whoever runs the stack named that exact
   * `host:port` (`--allow-host 127.0.0.1:8080`), so it may be on loopback or a private network.
   */
  allowHosts?: string[];
  allowHttp?: boolean;
  /** Origins of the web page hosted elsewhere (naming this gateway in its meta) that may call it from a browser. */
  allowOrigins?: string[];
  /** Client APIs need an app-key signature (the NOTIFY API always does). */
  requireSignature?: boolean;
  /** Gateway limits: heartbeat, connection lifetime (CR), frame rate (OS), anonymous rate limit, how long a request may take to arrive. */
  gateway?: Pick<GatewayOptions, 'keepAliveMs' | 'maxConnectionLifetimeMs' | 'maxMessagesPerSecond' | 'anonymousRateLimit' | 'requestTimeoutMs'>;
  /** Extra environment for the worker (FERRY_CONCURRENCY, FERRY_URL_TTL, …). */
  workerEnv?: Record<string, string>;
  log?: (line: string) => void;
}

export interface LocalStack {
  /** ws:// URL of the gateway, at the public host. */
  gateway: string;
  /** http:// base URL of the same gateway: POST /jobs, GET /jobs/:id, the web page at /. */
  api: string;
  /** The OSS-compatible store's endpoint. */
  oss: string;
  /** The FC emulator's front. */
  fc: string;
  appKey: string;
  appSecret: string;
  bucket: string;
  /** The process id of the worker instance running now (it leads its process group); for fault tests. */
  runtimePid(): number | undefined;
  close(): Promise<void>;
}

const BUCKET = 'ferry';
const OSS_REGION = 'oss-cn-hongkong';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The API table, as it would be defined on Alibaba Cloud API Gateway for the function. */
function gatewayApis(requireSignature: boolean): GatewayApi[] {
  const client = requireSignature ? 'APP' : 'ANONYMOUS';
  return [
    { method: 'POST', path: '/jobs', auth: client },
    { method: 'GET', path: '/jobs/[id]', auth: client },
    { method: 'GET', path: '/refs', auth: client },
    { method: 'GET', path: '/healthz', auth: 'ANONYMOUS' },
    { method: 'POST', path: '/register', auth: client, type: 'REGISTER' },
    { method: 'POST', path: '/unregister', auth: client, type: 'UNREGISTER' },
    { method: 'POST', path: '/notify', auth: 'APP', type: 'NOTIFY' },
  ];
}

/**
 * The SSRF guard's exceptions for the embedded worker: the user's own FERRY_ALLOWED_DESTINATIONS, and each
 * allowed host named with its port. Nothing else: a `ferry serve` fetches public hosts, and stays strict.
 */
export function allowedDestinations(allowHosts: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const own = (env.FERRY_ALLOWED_DESTINATIONS ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  return [...own, ...allowHosts.filter((host) => /:\d+$/.test(host))];
}

/**
 * OSS store + FC emulator running ./bootstrap + API gateway, on loopback by default: the same worker, SDK
 * and protocols as production, only endpoints and credentials differ.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const dataDir = resolve(options.dataDir);
  const host = options.host ?? '127.0.0.1';
  // On loopback the addresses stay as they are (the store as `localhost`); beyond it they name a reachable host.
  const publicHost = isLoopbackHost(host) && !options.publicHost ? undefined : reachableHost(host, options.publicHost);
  await mkdir(dataDir, { recursive: true });
  const lock = await lockDataDir(dataDir);
  const cleanups: (() => Promise<void>)[] = [() => lock.release()];
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const cleanup of [...cleanups].reverse()) await cleanup().catch(() => undefined);
    })());

  try {
    const creds = await loadOrCreateCredentials(dataDir);
    const oss = await startOssServer({
      dataDir: join(dataDir, 'oss'),
      host,
      publicHost,
      port: 0,
      region: OSS_REGION,
      credentials: [creds.accessKey],
      buckets: [BUCKET],
    });
    cleanups.push(() => oss.close());

    // The worker must know the gateway's address before it starts; its own FC front's the emulator supplies.
    let fc: FcEmulator | undefined;
    // The constant header a production API's backend adds, proving events came through the gateway.
    const gatewaySecret = createHmac('sha256', creds.dispatchSecret).update('gateway').digest('hex');
    const backend = {
      async invoke(event: ApiGatewayEvent): Promise<ApiGatewayResult> {
        if (!fc) throw new Error('the function is not started yet');
        const result = await fc.invoke(JSON.stringify({ ...event, headers: { ...event.headers, [GATEWAY_SECRET_HEADER]: gatewaySecret } }));
        const body = result.body.toString('utf8');
        // FC's own failures (502, 504) carry {Code, Message}, not a result; the gateway answers 502.
        if (result.status !== 200) throw new Error(`function answered ${result.status}: ${body}`);
        return JSON.parse(body) as ApiGatewayResult;
      },
    };
    const gateway = await startGateway({
      host,
      publicHost,
      allowedOrigins: options.allowOrigins,
      port: options.port ?? 0,
      apps: [{ appKey: creds.appKey, appSecret: creds.appSecret }],
      apis: gatewayApis(options.requireSignature ?? false),
      backend,
      staticDir: join(ROOT, 'web'),
      // Undefined keeps the gateway's own default (console.warn): its failures are worth seeing.
      log: options.log,
      ...options.gateway,
    });
    cleanups.push(() => gateway.close());

    fc = await startFcEmulator({
      bootstrap: join(ROOT, 'bootstrap'),
      cwd: ROOT,
      // Only this process and the worker call the front; on another address it would let a client around the
      // gateway's signature check and rate limit.
      host: isLoopbackHost(host) ? host : '127.0.0.1',
      credentials: creds.accessKey,
      // As template.yml deploys it: a job whose retries are spent ends as WORKER_LOST, pushed to its client.
      failureDestination: true,
      log: options.log,
      env: (front) => ({
        FERRY_OSS_ENDPOINT: oss.endpoint,
        FERRY_OSS_PUBLIC_ENDPOINT: oss.pathStyleEndpoint,
        FERRY_OSS_PATH_STYLE: '1',
        FERRY_OSS_BUCKET: BUCKET,
        FERRY_OSS_REGION: OSS_REGION,
        FERRY_WORK_DIR: join(dataDir, 'work'),
        FERRY_NOTIFY_URL: `${gateway.url}/notify`,
        FERRY_APP_KEY: creds.appKey,
        FERRY_APP_SECRET: creds.appSecret,
        // Jobs go out as InvokeFunction (Async) on the emulator's own OpenAPI front, signed as on FC.
        FERRY_DISPATCH: 'async',
        FERRY_FC_ENDPOINT: front.url,
        FERRY_DISPATCH_SECRET: creds.dispatchSecret,
        FERRY_GATEWAY_SECRET: gatewaySecret,
        FERRY_ALLOWED_HOSTS: [...DEFAULT_ALLOWED_HOSTS, ...(options.allowHosts ?? [])].join(','),
        FERRY_ALLOWED_DESTINATIONS: allowedDestinations(options.allowHosts ?? [], process.env).join(','),
        ...(options.allowHttp ? { FERRY_ALLOW_HTTP: '1' } : {}),
        // Stopping the stack calls GET /pre-stop (as FC does): running jobs get 5 s, not production's 50.
        FERRY_PRE_STOP_GRACE: '5',
        // Every client of the embedded stack shares one address and its app key, and nobody is billed: the
        // gateway's own throttle (--rate-limit) is the local knob, not the worker's per-client quotas.
        FERRY_RATE_LIMIT: '0',
        FERRY_CLIENT_DAILY_BYTES: '0',
        FERRY_DAILY_BUDGET_BYTES: '0',
        ...proxyEnv(process.env),
        ...options.workerEnv,
        // Last, so no caller's env undoes them: the worker's own port is for the front alone, and clients
        // reach its API only through the gateway (events on /invoke carrying the gateway secret).
        FERRY_LISTEN_HOST: '127.0.0.1',
        FERRY_HTTP_API: '0',
      }),
    });
    const started = fc;
    cleanups.push(() => started.close());

    // The worker reaches the gateway on its own address; users (and the page's links) on the public one.
    const publicAuthority = publicHost === undefined ? undefined : authority(publicHost, gateway.port);
    return {
      gateway: publicAuthority ? `ws://${publicAuthority}` : gateway.wsUrl,
      api: publicAuthority ? `http://${publicAuthority}` : gateway.url,
      oss: oss.pathStyleEndpoint,
      fc: fc.url,
      appKey: creds.appKey,
      appSecret: creds.appSecret,
      bucket: BUCKET,
      runtimePid: () => started.runtimePid(),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
