import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_PARTS, multipartCapacity } from './storage/upload.js';
import type { Credentials } from '../protocol/credentials.js';
import { DEFAULT_ALLOWED_HOSTS } from '../protocol/hosts.js';
import { DEFAULT_FILE_HOSTS, type Forge } from '../protocol/file-url.js';
import { parseDestination } from './net/destinations.js';
import { parseRepoPatterns, type RepoLists } from './repo-lists.js';

/** Everything the worker reads from its environment, parsed once. See the README's table. */
export interface Config {
  port: number;
  /** The runtime's listening address: 0.0.0.0 on FC; the local stack keeps it on loopback. */
  listenHost: string;
  workDir: string;
  /** Disk budget for the bare mirrors under workDir. */
  mirrorMaxBytes: number;
  concurrency: number;
  urlTtlSeconds: number;
  allowedHosts: string[];
  allowHttp: boolean;
  /** FERRY_ALLOWED_DESTINATIONS: exact `host:port` entries the SSRF guard (net/destinations.ts) lets through. */
  allowedDestinations: string[];
  /** FERRY_ALLOWED_REPOS / FERRY_DENIED_REPOS (repo-lists.ts): which repositories on those hosts are served. */
  repoLists: RepoLists;
  /** Serve the API on HTTP-trigger paths (everything but /invoke and /healthz). */
  httpApi: boolean;
  /**
   * When set, API-gateway events must carry it in `x-ferry-gateway-secret` (a constant header the API's
   * backend adds): otherwise anyone who can reach `/invoke` could hand the worker a made-up gateway event.
   */
  gatewaySecret: string | undefined;
  maxArchiveBytes: number;
  /** FERRY_MAX_FILE_BYTES: the largest upstream file a `file` job takes. */
  maxFileBytes: number;
  /** Hosts a file job may start at or be redirected to, besides `allowedHosts` (FERRY_FILE_HOSTS). */
  fileHosts: string[];
  /** Extra hosts and the forge whose URL shapes they use (FERRY_FORGES=`git.example.com=gitlab,…`). */
  forges: Map<string, Forge>;
  jobTimeoutMs: number;
  gitTimeoutMs: number;
  /** FERRY_STALL_TIMEOUT: a git transfer silent this long is stalled, killed and tried again. */
  stallTimeoutMs: number;
  /** FERRY_UPSTREAM_RETRIES, FERRY_UPSTREAM_BACKOFF_MS: how transient upstream failures are tried again. */
  upstreamRetry: { retries: number; backoffMs: number };
  /** How long running jobs may go on after FC's PreStop hook (`GET /pre-stop`) before they are stopped. */
  preStopGraceMs: number;
  /** How long running jobs may go on after SIGTERM when no PreStop hook drained the instance first. */
  sigtermGraceMs: number;
  /** How often a job's state is rewritten (its heartbeat) while this instance holds it (FERRY_HEARTBEAT). */
  heartbeatMs: number;
  /** A non-final job whose heartbeat is older than this ends as WORKER_LOST (FERRY_WORKER_LOST_AFTER). */
  workerLostAfterMs: number;
  /** When a repository's bundle chain gets a new full bundle instead of another incremental one. */
  bundleChain: { maxLinks: number; maxIncrementalShare: number; maxBaseAgeMs: number };
  oss: OssConfig;
  notify: NotifyConfig | undefined;
  dispatch: DispatchConfig;
  quotas: QuotaConfig;
}

/** Limits for public operation (docs/security.md, Limits); 0 turns a rate, byte count or budget off. */
export interface QuotaConfig {
  /** FERRY_MAX_FETCH_BYTES: what one git fetch may receive before it is stopped (TOO_LARGE). */
  maxFetchBytes: number;
  /** FERRY_MAX_PENDING: queued jobs on one instance beyond which POST /jobs answers 503 BUSY. */
  maxPending: number;
  /** FERRY_RATE_LIMIT: jobs per minute per app key, device and source address. */
  ratePerMinute: number;
  /** FERRY_CLIENT_DAILY_BYTES: artifact bytes served per UTC day per app key, device and source address. */
  clientDailyBytes: number;
  /** FERRY_DAILY_BUDGET_BYTES: artifact bytes served per UTC day by the whole deployment. */
  dailyBudgetBytes: number;
  /** FERRY_MIN_FREE_BYTES: free disk under the work dir below which nothing is fetched (507). */
  minFreeBytes: number;
}

export interface OssConfig {
  bucket: string | undefined;
  /** Where uploads go: the internal endpoint in production. */
  endpoint: string | undefined;
  /** What signed URLs point at: public, accelerate or CDN endpoint. Defaults to `endpoint`. */
  publicEndpoint: string | undefined;
  region: string;
  /** Bucket in the path instead of the host name: for OSS-compatible stores on an IP or localhost. */
  pathStyle: boolean;
  /** `FERRY_OSS_*`: a fixed key, used for every OSS call in place of FC's per-invocation STS credentials. */
  fixedCredentials: Credentials | undefined;
  /** `ALIBABA_CLOUD_*` (FC's own variables): used when an invocation brings no credentials. */
  credentials: Credentials | undefined;
  partSize: number;
  partsInFlight: number;
}

export interface NotifyConfig {
  url: string;
  appKey: string;
  appSecret: string;
}

export const DISPATCH_MODES = ['inline', 'async'] as const;
export type DispatchMode = (typeof DISPATCH_MODES)[number];

export interface DispatchConfig {
  /** `inline`: jobs run on this instance's queue. `async`: an InvokeFunction (Async) of this function. */
  mode: DispatchMode;
  /** HMAC key for job events; `/invoke` refuses job events without one. */
  secret: string | undefined;
  /** Where and what to invoke; set exactly when mode is `async`. */
  invoke: InvokeConfig | undefined;
}

export interface InvokeConfig {
  /** FC's OpenAPI endpoint, `https://<account>.<region>-internal.fc.aliyuncs.com` by default. */
  endpoint: string;
  functionName: string;
  qualifier: string;
  /** `ALIBABA_CLOUD_*` (FC's own variables): signs when an invocation brings no credentials. */
  credentials: Credentials | undefined;
}


type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const endpoint = str(env, 'FERRY_OSS_ENDPOINT');
  const notifyUrl = str(env, 'FERRY_NOTIFY_URL');
  const maxArchiveBytes = int(env, 'FERRY_MAX_ARCHIVE_BYTES', 2 * 1024 ** 3, 1);
  const maxFileBytes = int(env, 'FERRY_MAX_FILE_BYTES', 2 * 1024 ** 3, 1);
  const partSize = int(env, 'FERRY_PART_SIZE', 8 * 1024 * 1024, 100 * 1024);
  // OSS takes 10,000 parts per upload: the largest archive or file allowed must fit in them.
  const capacity = multipartCapacity(partSize);
  for (const [name, limit] of [['FERRY_MAX_ARCHIVE_BYTES', maxArchiveBytes], ['FERRY_MAX_FILE_BYTES', maxFileBytes]] as const) {
    if (capacity < limit) {
      throw new Error(`FERRY_PART_SIZE=${partSize} fits at most ${capacity} bytes in OSS's ${MAX_PARTS} parts, less than ${name}=${limit}: raise FERRY_PART_SIZE or lower ${name}.`);
    }
  }
  return {
    port: int(env, 'FC_SERVER_PORT', int(env, 'FC_CUSTOM_LISTEN_PORT', 9000)),
    listenHost: str(env, 'FERRY_LISTEN_HOST') ?? '0.0.0.0',
    workDir: str(env, 'FERRY_WORK_DIR') ?? join(tmpdir(), 'ferry'),
    mirrorMaxBytes: int(env, 'FERRY_MIRROR_MAX_BYTES', 2 * 1024 ** 3, 0),
    concurrency: int(env, 'FERRY_CONCURRENCY', 2, 1),
    urlTtlSeconds: Math.min(int(env, 'FERRY_URL_TTL', 3600, 60), 7 * 24 * 3600), // OSS V4 URLs live 7 days at most
    allowedHosts: list(env, 'FERRY_ALLOWED_HOSTS') ?? [...DEFAULT_ALLOWED_HOSTS],
    allowHttp: env.FERRY_ALLOW_HTTP === '1',
    allowedDestinations: destinations(env),
    repoLists: {
      allowed: parseRepoPatterns('FERRY_ALLOWED_REPOS', env.FERRY_ALLOWED_REPOS),
      denied: parseRepoPatterns('FERRY_DENIED_REPOS', env.FERRY_DENIED_REPOS) ?? [],
    },
    httpApi: env.FERRY_HTTP_API !== '0',
    gatewaySecret: str(env, 'FERRY_GATEWAY_SECRET'),
    maxArchiveBytes,
    maxFileBytes,
    fileHosts: list(env, 'FERRY_FILE_HOSTS') ?? [...DEFAULT_FILE_HOSTS],
    forges: forges(env),
    jobTimeoutMs: int(env, 'FERRY_JOB_TIMEOUT', 900, 1) * 1000,
    gitTimeoutMs: int(env, 'FERRY_GIT_TIMEOUT', 300, 1) * 1000,
    stallTimeoutMs: int(env, 'FERRY_STALL_TIMEOUT', 30, 1) * 1000,
    upstreamRetry: { retries: int(env, 'FERRY_UPSTREAM_RETRIES', 3, 0), backoffMs: int(env, 'FERRY_UPSTREAM_BACKOFF_MS', 1000, 0) },
    // 50 s leaves 10 s of a 60 s PreStop timeout to store the stopped jobs' states and push them.
    preStopGraceMs: int(env, 'FERRY_PRE_STOP_GRACE', 50, 0) * 1000,
    // Docker and Kubernetes send SIGKILL 10 s (30 s) after SIGTERM; FC calls the PreStop hook first.
    sigtermGraceMs: int(env, 'FERRY_SIGTERM_GRACE', 5, 0) * 1000,
    ...liveness(env),
    bundleChain: {
      maxLinks: int(env, 'FERRY_BUNDLE_MAX_LINKS', 8, 1),
      maxIncrementalShare: 0.5,
      // Well below the bucket's 30-day lifecycle rule for bundles/ (template.yml): a chain never names an expired bundle.
      maxBaseAgeMs: Math.min(int(env, 'FERRY_BUNDLE_BASE_DAYS', 20, 1), 25) * 24 * 3600 * 1000,
    },
    oss: {
      bucket: str(env, 'FERRY_OSS_BUCKET'),
      endpoint,
      publicEndpoint: str(env, 'FERRY_OSS_PUBLIC_ENDPOINT') ?? endpoint,
      region: str(env, 'FERRY_OSS_REGION') ?? 'oss-cn-hongkong',
      pathStyle: env.FERRY_OSS_PATH_STYLE === '1',
      fixedCredentials: keyFrom(env, 'FERRY_OSS_ACCESS_KEY_ID', 'FERRY_OSS_ACCESS_KEY_SECRET', 'FERRY_OSS_SECURITY_TOKEN'),
      credentials: keyFrom(env, 'ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_SECURITY_TOKEN'),
      partSize,
      partsInFlight: int(env, 'FERRY_PARTS_IN_FLIGHT', 3, 1),
    },
    notify:
      notifyUrl === undefined
        ? undefined
        : { url: notifyUrl, appKey: str(env, 'FERRY_APP_KEY') ?? '', appSecret: str(env, 'FERRY_APP_SECRET') ?? '' },
    dispatch: dispatchConfig(env),
    quotas: {
      maxFetchBytes: int(env, 'FERRY_MAX_FETCH_BYTES', 2 * 1024 ** 3, 1),
      maxPending: int(env, 'FERRY_MAX_PENDING', 16, 0),
      ratePerMinute: int(env, 'FERRY_RATE_LIMIT', 30, 0),
      clientDailyBytes: int(env, 'FERRY_CLIENT_DAILY_BYTES', 20 * 1024 ** 3, 0),
      dailyBudgetBytes: int(env, 'FERRY_DAILY_BUDGET_BYTES', 1024 ** 4, 0),
      minFreeBytes: int(env, 'FERRY_MIN_FREE_BYTES', 1024 ** 3, 0),
    },
  };
}

// Three heartbeats (and the build lease's TTL): two lost or slow writes never make a live job look lost.
function liveness(env: Env): Pick<Config, 'heartbeatMs' | 'workerLostAfterMs'> {
  const heartbeat = int(env, 'FERRY_HEARTBEAT', 10, 1);
  const lostAfter = int(env, 'FERRY_WORKER_LOST_AFTER', heartbeat * 3, 1);
  if (lostAfter < heartbeat * 2) {
    throw new Error(`Expected FERRY_WORKER_LOST_AFTER to be at least twice FERRY_HEARTBEAT (${heartbeat * 2}), got ${lostAfter}: a live job would be judged lost.`);
  }
  return { heartbeatMs: heartbeat * 1000, workerLostAfterMs: lostAfter * 1000 };
}

function dispatchConfig(env: Env): DispatchConfig {
  const raw = str(env, 'FERRY_DISPATCH') ?? 'inline';
  const mode = DISPATCH_MODES.find((m) => m === raw.toLowerCase());
  if (!mode) throw new Error(`Expected FERRY_DISPATCH to be one of ${DISPATCH_MODES.join(', ')}, got ${JSON.stringify(raw)}`);
  const secret = str(env, 'FERRY_DISPATCH_SECRET');
  if (mode === 'inline') return { mode, secret, invoke: undefined };

  // A job event without a secret would be refused by the very instance it is sent to: fail at start instead.
  if (!secret) throw new Error('FERRY_DISPATCH=async needs FERRY_DISPATCH_SECRET (the HMAC key that job events are signed with).');
  const functionName = str(env, 'FC_FUNCTION_NAME');
  if (!functionName) throw new Error('FERRY_DISPATCH=async needs FC_FUNCTION_NAME, which Function Compute sets: run it on FC, or set FERRY_DISPATCH=inline.');
  const account = str(env, 'FC_ACCOUNT_ID');
  const region = str(env, 'FC_REGION');
  // FC 3.0's VPC endpoint: the call stays inside the region and needs no public network access.
  const endpoint = str(env, 'FERRY_FC_ENDPOINT') ?? (account && region ? `https://${account}.${region}-internal.fc.aliyuncs.com` : undefined);
  if (!endpoint) {
    throw new Error('FERRY_DISPATCH=async needs FERRY_FC_ENDPOINT, or FC_ACCOUNT_ID and FC_REGION (which Function Compute sets) to derive it.');
  }
  if (!/^https?:\/\/[^/?#]+\/?$/.test(endpoint)) {
    throw new Error(`Expected FERRY_FC_ENDPOINT to be an http(s) origin such as https://<account>.<region>-internal.fc.aliyuncs.com, got ${JSON.stringify(endpoint)}`);
  }
  return {
    mode,
    secret,
    invoke: {
      endpoint: endpoint.replace(/\/$/, ''),
      functionName,
      qualifier: str(env, 'FERRY_FC_QUALIFIER') ?? 'LATEST',
      credentials: keyFrom(env, 'ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_SECURITY_TOKEN'),
    },
  };
}

function destinations(env: Env): string[] {
  const entries = list(env, 'FERRY_ALLOWED_DESTINATIONS') ?? [];
  for (const entry of entries) {
    try {
      parseDestination(entry);
    } catch (error) {
      throw new Error(`FERRY_ALLOWED_DESTINATIONS: ${(error as Error).message}`);
    }
  }
  return entries;
}

const FORGES: readonly Forge[] = ['github', 'gitlab', 'gitea', 'gitee'];

/** FERRY_FORGES=`git.example.com=gitlab,code.example.org=gitea`: hosts whose file URLs have a forge's shapes. */
function forges(env: Env): Map<string, Forge> {
  const map = new Map<string, Forge>();
  for (const entry of list(env, 'FERRY_FORGES') ?? []) {
    const [host, forge, ...rest] = entry.split('=').map((part) => part.trim());
    if (!host || rest.length > 0 || !FORGES.includes(forge as Forge)) {
      throw new Error(`Expected FERRY_FORGES to be a comma list of host=forge with forge one of ${FORGES.join(', ')}, got ${JSON.stringify(entry)}`);
    }
    map.set(host, forge as Forge);
  }
  return map;
}

function keyFrom(env: Env, idName: string, secretName: string, tokenName: string): Credentials | undefined {
  const id = str(env, idName);
  const secret = str(env, secretName);
  return id === undefined || secret === undefined ? undefined : { accessKeyId: id, accessKeySecret: secret, securityToken: str(env, tokenName) };
}

function str(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function list(env: Env, name: string): string[] | undefined {
  const value = str(env, name);
  return value?.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean);
}

function int(env: Env, name: string, fallback: number, min = 0): number {
  const raw = str(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`Expected ${name} to be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Every secret the configuration holds, for the log's redactor (per-invocation STS keys come later, with requests). */
export function configuredSecrets(config: Config): Array<string | undefined> {
  const keys = [config.oss.fixedCredentials, config.oss.credentials, config.dispatch.invoke?.credentials];
  return [
    config.notify?.appSecret,
    config.dispatch.secret,
    config.gatewaySecret,
    ...keys.flatMap((key) => [key?.accessKeySecret, key?.securityToken]),
  ];
}
