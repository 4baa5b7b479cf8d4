import { UPLOADS_PREFIX } from '../../src/worker/storage/upload-records.js';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GATEWAY_SECRET_HEADER } from '../../src/protocol/apigw-event.js';
import { loadConfig } from '../../src/worker/config.js';
import { createRuntimeServer } from '../../src/worker/runtime/server.js';
import { createWorker, type Worker } from '../../src/worker/worker.js';
import { createObjectStore } from '../../src/worker/storage/oss-store.js';
import { archiveKeys, fileKeys, jobStateKey } from '../../src/worker/storage/keys.js';
import { leasePrefix } from '../../src/worker/jobs/lease-objects.js';
import { counterPrefix } from '../../src/worker/quotas/shared-counters.js';
import { bundlePrefix, chainKey } from '../../src/worker/artifacts/bundle-chain.js';
import { FILE_ENTRY_MAX_AGE_MS } from '../../src/worker/artifacts/file-cache.js';
import { ROOT } from '../helpers/worker-process.js';

/*
 * The deploy files against the code they deploy: template.yml (ROS) and s.yaml (Serverless Devs, fc3) must
 * run the worker as it expects to be run, give it every setting it reads and none it ignores, route every
 * API it serves through the gateway with the gateway's secret, and grant its role exactly the storage
 * operations and key prefixes the code uses. Everything compared is derived from the code where that is
 * feasible; what is not is a table here that names where it comes from.
 *
 * Both files use only YAML's plain forms (ROS's long-form intrinsics such as `Ref:` and `Fn::Sub:`, no
 * `!Ref` tags, no anchors), so a plain YAML parser reads them as ROS does.
 */

type Json = Record<string, unknown>;

const TEMPLATE = join(ROOT, 'template.yml');
const SYAML = join(ROOT, 's.yaml');
const WORKER_ENTRY = join(ROOT, 'src/worker/main.ts');

/** Set by Function Compute itself: never in a deploy file. */
const PLATFORM = /^(FC_|ALIBABA_CLOUD_)/;

/**
 * Settings the worker reads that the production deploy leaves unset on purpose, with the reason. A name
 * here must not also be set by a template (the reason would be false) and must be one the code reads.
 */
const DEFAULT_IS_RIGHT: Record<string, string> = {
  FERRY_OSS_PATH_STYLE: 'OSS itself takes the bucket in the host name; path style is for OSS-compatible stores on an IP or localhost',
  FERRY_OSS_ACCESS_KEY_ID: "a fixed key would replace the role's per-invocation STS credentials",
  FERRY_OSS_ACCESS_KEY_SECRET: "a fixed key would replace the role's per-invocation STS credentials",
  FERRY_OSS_SECURITY_TOKEN: "a fixed key would replace the role's per-invocation STS credentials",
  FERRY_ALLOW_HTTP: 'production accepts https:// repository URLs only',
  FERRY_ALLOWED_REPOS: 'every repository on an allowed host is served until an operator narrows it',
  FERRY_DENIED_REPOS: 'no repository is refused by name until an operator names one',
  FERRY_LISTEN_HOST: 'FC reaches the runtime on 0.0.0.0, the default; only the local stack binds loopback',
  FERRY_MAX_ARCHIVE_BYTES: 'the 2 GiB default fits the 10 GiB disk and the multipart schedule',
  FERRY_PART_SIZE: 'the 8 MiB default keeps memory at part size x (parts in flight + 1), far below 2 GiB',
  FERRY_PARTS_IN_FLIGHT: 'the default 3 parts in flight saturate the internal endpoint',
  FERRY_FC_ENDPOINT: "derived from FC_ACCOUNT_ID and FC_REGION: the region's internal FC endpoint",
  FERRY_FC_QUALIFIER: 'LATEST, the version both templates deploy and the API backends call',
  FERRY_BUNDLE_MAX_LINKS: 'eight links keep a clone at most eight downloads while updates stay incremental',
  FERRY_BUNDLE_BASE_DAYS: "20 days stays below the bucket's 30-day expiry of bundles/",
  FERRY_SIGTERM_GRACE: 'FC calls the PreStop hook (FERRY_PRE_STOP_GRACE) before SIGTERM, which then finds nothing left',
  FERRY_HEARTBEAT: 'a 10 s heartbeat is one small PUT per held job every 10 s',
  FERRY_WORKER_LOST_AFTER: '30 s, three heartbeats and the build lease TTL: a live job is never judged lost',
  // Upstream faults (docs/reliability.md): retried in the job, well inside FERRY_JOB_TIMEOUT.
  FERRY_STALL_TIMEOUT: '30 s without a byte from the upstream is a stall, far above a slow but live GitHub answer',
  FERRY_UPSTREAM_RETRIES: 'three more attempts ride out a cut or a 5xx without hammering a host that is down',
  FERRY_UPSTREAM_BACKOFF_MS: 'a backoff from 1 s spreads the attempts over seconds, not the job timeout',
  // Quotas (docs/security.md, Limits): defaults sized for a 10 GB disk and 2 GB of memory.
  FERRY_MAX_FETCH_BYTES: 'a 2 GiB fetch fits the 10 GiB disk beside the 2 GiB mirror budget',
  FERRY_MAX_PENDING: '16 queued jobs per instance hold a few KB each; beyond it clients are told to come back',
  FERRY_RATE_LIMIT: '30 jobs a minute per app key, device and address is far above one person and far below a scraper',
  FERRY_CLIENT_DAILY_BYTES: '20 GiB a day per client stops bulk scraping, not anyone downloading by hand',
  FERRY_DAILY_BUDGET_BYTES: '1 TiB of artifacts a day bounds the bill; an operator sets their own',
  FERRY_MIN_FREE_BYTES: '1 GiB free before fetching keeps git and the mirrors from filling the 10 GiB disk',
};

/**
 * Each storage operation the worker has (the keys of the object store that src/worker/storage/oss-store.ts builds)
 * and the RAM actions OSS checks for it, from OSS's API reference: PutObject, InitiateMultipartUpload,
 * UploadPart and CompleteMultipartUpload need oss:PutObject; GetObject needs oss:GetObject;
 * AbortMultipartUpload needs oss:AbortMultipartUpload; DeleteObject oss:DeleteObject; ListObjects
 * (GetBucket) oss:ListObjects on the bucket, narrowed by oss:Prefix. A signed URL is authorised as its signer when the
 * client GETs it, so signing needs oss:GetObject.
 */
const RAM_ACTIONS: Record<string, string[]> = {
  put: ['oss:PutObject'],
  getText: ['oss:GetObject'],
  initMultipart: ['oss:PutObject'],
  uploadPart: ['oss:PutObject'],
  completeMultipart: ['oss:PutObject'],
  abortMultipart: ['oss:AbortMultipartUpload'],
  signGetUrl: ['oss:GetObject'],
  getStream: ['oss:GetObject'],
  putIfAbsent: ['oss:PutObject'],
  delete: ['oss:DeleteObject'],
  // Bucket-level: granted on the bucket, for the lease prefix only (checked apart below).
  list: ['oss:ListObjects'],
};

/** FC's limits for the lifecycle hooks (seconds): InitializationTimeout 1..300, PreStop at most 90. */
const INITIALIZER_MAX = 300;
const PRE_STOP_MAX = 90;
/** POST /initialize waits this long for the warm-up (src/worker/runtime/server.ts) before answering. */
const INITIALIZE_ANSWER_SECONDS = 2;

let template: Json;
let sYaml: Json;
let workerSources: Map<string, string>;

beforeAll(async () => {
  template = parse(await readFile(TEMPLATE, 'utf8')) as Json;
  sYaml = parse(await readFile(SYAML, 'utf8')) as Json;
  workerSources = await importClosure(WORKER_ENTRY);
});

// ------------------------------------------------------------------------------------------ helpers

/** Every source file the worker's entry point reaches through relative imports. */
async function importClosure(entry: string): Promise<Map<string, string>> {
  const sources = new Map<string, string>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (sources.has(file)) continue;
    const text = await readFile(file, 'utf8');
    sources.set(file, text);
    for (const match of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.[^'"]+)['"]/gm)) {
      pending.push(resolve(dirname(file), (match[1] as string).replace(/\.js$/, '.ts')));
    }
  }
  return sources;
}

function resourcesOfType(type: string): [string, Json][] {
  return Object.entries(template.Resources as Record<string, Json>).filter(([, r]) => r.Type === type);
}

function props(resource: Json): Json {
  return resource.Properties as Json;
}

function templateFunction(): Json {
  const functions = resourcesOfType('ALIYUN::FC3::Function');
  expect(functions).toHaveLength(1);
  return props(functions[0]![1]);
}

function sFunction(): Json {
  const fc3 = Object.values(sYaml.resources as Record<string, Json>).filter((r) => r.component === 'fc3');
  expect(fc3).toHaveLength(1);
  return fc3[0]!.props as Json;
}

function templateEnv(): Json {
  return templateFunction().EnvironmentVariables as Json;
}

function sEnv(): Json {
  return sFunction().environmentVariables as Json;
}

/** A literal setting's value (string or number), or undefined for a reference / ${...} expression. */
function literal(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string' && !value.includes('${')) return value;
  return undefined;
}

/** The value of a `Ref` to a template parameter's default, or the literal itself. */
function resolved(value: unknown): string | undefined {
  const ref = (value as Json | undefined)?.Ref;
  if (typeof ref === 'string') {
    const parameter = (template.Parameters as Record<string, Json>)[ref];
    return parameter?.Default === undefined ? undefined : String(parameter.Default);
  }
  return literal(value);
}

/** The names the worker reads from its environment: string literals in its modules, and bootstrap's. */
async function workerEnvNames(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const text of workerSources.values()) {
    for (const match of text.matchAll(/['"`]((?:FERRY|FC|ALIBABA_CLOUD)_[A-Z0-9_]+)['"`]|\benv\.((?:FERRY|FC)_[A-Z0-9_]+)\b/g)) {
      names.add((match[1] ?? match[2]) as string);
    }
  }
  for (const match of (await readFile(join(ROOT, 'bootstrap'), 'utf8')).matchAll(/\$\{?((?:FERRY|FC)_[A-Z0-9_]+)/g)) names.add(match[1] as string);
  return names;
}

/** What loadConfig actually looks up for a given environment. */
function readsOf(env: Record<string, string>): Set<string> {
  const read = new Set<string>();
  const proxy = new Proxy(env, {
    get(target, name) {
      if (typeof name === 'string') read.add(name);
      return target[name as string];
    },
  });
  try {
    loadConfig(proxy);
  } catch {
    // An invalid combination still shows what was read before it was refused.
  }
  return read;
}

interface LocalApi {
  method: string;
  path: string;
  type: string;
  /** A literal auth type, or undefined where the local stack uses its client setting. */
  auth: string | undefined;
}

/** The APIs the local stack's gateway publishes: gatewayApis() in src/local/stack.ts. */
async function localGatewayApis(): Promise<LocalApi[]> {
  const source = await readFile(join(ROOT, 'src/local/stack.ts'), 'utf8');
  const body = /function gatewayApis\([^)]*\)[^{]*\{([\s\S]*?)\n\}/.exec(source)?.[1];
  expect(body, 'gatewayApis() in src/local/stack.ts').toBeDefined();
  const apis: LocalApi[] = [];
  for (const match of (body as string).matchAll(/\{\s*method:\s*'([A-Z]+)',\s*path:\s*'([^']+)',\s*auth:\s*('([A-Z]+)'|\w+)(?:,\s*type:\s*'([A-Z]+)')?\s*\}/g)) {
    apis.push({ method: match[1] as string, path: match[2] as string, auth: match[4], type: match[5] ?? 'COMMON' });
  }
  expect(apis.length, 'entries parsed from gatewayApis()').toBe((body as string).match(/method:/g)?.length);
  return apis;
}

function templateApis(): { name: string; method: string; path: string; type: string; props: Json }[] {
  return resourcesOfType('ALIYUN::ApiGateway::Api').map(([name, resource]) => {
    const p = props(resource);
    const request = p.RequestConfig as Json;
    return { name, method: request.RequestHttpMethod as string, path: request.RequestPath as string, type: (p.WebSocketApiType as string | undefined) ?? 'COMMON', props: p };
  });
}

function rolePolicyStatements(): Json[] {
  const role = templateFunction().Role as Json;
  const roleName = (role['Fn::GetAtt'] as string[])[0] as string;
  const resource = (template.Resources as Record<string, Json>)[roleName] as Json;
  expect(resource.Type).toBe('ALIYUN::RAM::Role');
  return (props(resource).Policies as Json[]).flatMap((policy) => ((policy.PolicyDocument as Json).Statement as Json[]));
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function sub(value: unknown): string {
  const text = (value as Json)['Fn::Sub'];
  expect(typeof text, `a Fn::Sub string: ${JSON.stringify(value)}`).toBe('string');
  return text as string;
}

// ------------------------------------------------------------------------------------------ checks

describe('template.yml and s.yaml', () => {
  it('parse as plain YAML into a ROS template and a Serverless Devs fc3 project', async () => {
    expect(template.ROSTemplateFormatVersion).toBe('2015-09-01');
    expect(template.Transform, 'one plain ROS template, no Transform').toBeUndefined();
    expect(Object.keys(template.Resources as Json).length).toBeGreaterThan(0);
    expect(sYaml.edition).toBe('3.0.0');
    expect(sFunction().functionName).toBeDefined();
    // Only the long forms and no anchors: what a plain parser reads is what ROS and Serverless Devs read.
    for (const file of [TEMPLATE, SYAML]) {
      const text = await readFile(file, 'utf8');
      expect(text, file).not.toMatch(/^[^#\n]*\s!(Ref|Sub|GetAtt|If|Join)\b/m);
      expect(text, file).not.toMatch(/^[^#\n]*:\s+[&*][\w-]+\s*$/m);
    }
  });

  it('use only ROS resource types of FC 3.0, OSS, RAM and API Gateway', () => {
    const types = new Set(Object.values(template.Resources as Record<string, Json>).map((r) => r.Type as string));
    for (const type of types) expect(type).toMatch(/^ALIYUN::(FC3|OSS|RAM|ApiGateway)::/);
    for (const type of ['ALIYUN::FC3::Function', 'ALIYUN::FC3::LayerVersion', 'ALIYUN::FC3::AsyncInvokeConfig', 'ALIYUN::OSS::Bucket', 'ALIYUN::RAM::Role', 'ALIYUN::ApiGateway::Group', 'ALIYUN::ApiGateway::App', 'ALIYUN::ApiGateway::Authorization', 'ALIYUN::ApiGateway::TrafficControl', 'ALIYUN::ApiGateway::TrafficControlBinding']) {
      expect(types, type).toContain(type);
    }
  });

  it('keep secrets out of the stack output and the parameter listing', () => {
    const parameters = template.Parameters as Record<string, Json>;
    for (const name of ['AppSecret', 'DispatchSecret', 'GatewaySecret']) expect(parameters[name]?.NoEcho, name).toBe(true);
    const outputs = JSON.stringify(template.Outputs);
    for (const name of ['AppSecret', 'DispatchSecret', 'GatewaySecret']) expect(outputs).not.toContain(`"Ref":"${name}"`);
  });
});

describe('environment', () => {
  it('finds the names the worker reads by scanning its modules, and loadConfig reads no other', async () => {
    const scanned = await workerEnvNames();
    const reads = new Set([
      ...readsOf({}),
      ...readsOf({ FERRY_NOTIFY_URL: 'https://gw.invalid/notify', FERRY_OSS_ENDPOINT: 'https://oss.invalid' }),
      ...readsOf({ FERRY_DISPATCH: 'async', FERRY_DISPATCH_SECRET: 'x'.repeat(32), FC_FUNCTION_NAME: 'ferry', FC_ACCOUNT_ID: '1', FC_REGION: 'cn-hongkong' }),
    ]);
    for (const name of reads) expect(scanned, `loadConfig reads ${name}, which the scan did not find`).toContain(name);
    expect([...scanned].filter((name) => name.startsWith('FERRY_')).length).toBeGreaterThan(10);
  });

  for (const [file, env] of [
    ['template.yml', () => templateEnv()],
    ['s.yaml', () => sEnv()],
  ] as const) {
    it(`${file} sets every FERRY_* setting the worker reads (or the default is right) and none it ignores`, async () => {
      const read = [...(await workerEnvNames())].filter((name) => !PLATFORM.test(name));
      const set = Object.keys(env());
      const missing = read.filter((name) => !set.includes(name) && !(name in DEFAULT_IS_RIGHT));
      expect(missing, `read by the worker, not set in ${file}, not in DEFAULT_IS_RIGHT`).toEqual([]);
      const ignored = set.filter((name) => !read.includes(name));
      expect(ignored, `set in ${file}, read by no worker code`).toEqual([]);
      expect(set.filter((name) => PLATFORM.test(name)), 'FC sets these itself').toEqual([]);
      const contradicted = set.filter((name) => name in DEFAULT_IS_RIGHT);
      expect(contradicted, 'set although DEFAULT_IS_RIGHT says the default is right').toEqual([]);
    });
  }

  it('lists in DEFAULT_IS_RIGHT only settings the worker reads', async () => {
    const read = await workerEnvNames();
    expect(Object.keys(DEFAULT_IS_RIGHT).filter((name) => !read.has(name))).toEqual([]);
  });

  it('gives both files the same literal settings, and production values the worker accepts', () => {
    const t = templateEnv();
    const s = sEnv();
    expect(Object.keys(s).sort()).toEqual(Object.keys(t).sort());
    for (const name of Object.keys(t)) {
      const a = literal(t[name]);
      const b = literal(s[name]);
      if (a !== undefined && b !== undefined) expect(b, name).toBe(a);
    }
    for (const env of [t, s]) {
      expect(literal(env.FERRY_DISPATCH)).toBe('async');
      expect(literal(env.FERRY_HTTP_API)).toBe('0');
    }
    // The literal settings (and parameter defaults) pass the worker's own validation.
    const values = Object.fromEntries(Object.entries(t).flatMap(([name, value]) => {
      const v = resolved(value);
      return v === undefined ? [] : [[name, v]];
    }));
    const config = loadConfig({ ...values, FERRY_DISPATCH_SECRET: 'x'.repeat(32), FC_FUNCTION_NAME: 'ferry', FC_ACCOUNT_ID: '1', FC_REGION: 'cn-hongkong' });
    expect(config.httpApi).toBe(false);
  });
});

describe('function', () => {
  it("listens where the worker listens: port 9000, the worker's default", () => {
    const port = loadConfig({}).port;
    expect(port).toBe(9000);
    expect((templateFunction().CustomRuntimeConfig as Json).Port).toBe(port);
    expect((sFunction().customRuntimeConfig as Json).port).toBe(port);
  });

  it('starts bootstrap from the code root, on the same custom runtime in both files', async () => {
    const command = [(templateFunction().CustomRuntimeConfig as Json).Command, (sFunction().customRuntimeConfig as Json).command];
    for (const c of command) expect(c).toEqual(['/code/bootstrap']);
    await access(join(ROOT, 'bootstrap'), constants.X_OK);
    // The layer runs on every Debian custom runtime (test/deploy/package.test.ts runs it in 11 and 12).
    const runtimes = ['custom.debian10', 'custom.debian11', 'custom.debian12'];
    const parameter = (template.Parameters as Record<string, Json>).Runtime as Json;
    expect(templateFunction().Runtime).toEqual({ Ref: 'Runtime' });
    expect(parameter.AllowedValues).toEqual(runtimes);
    expect(sFunction().runtime).toBe(`\${env('DEPLOY_RUNTIME', '${parameter.Default as string}')}`);
    expect(sFunction().code).toBe('./dist/deploy/ferry-code.zip');
  });

  it('loads Node from the official Nodejs20 layer and git from ferry\'s layer', () => {
    const nodeLayer = /^acs:fc:\$\{(?:ALIYUN::Region|vars\.region)\}:official:layers\/Nodejs20\/versions\/(\$\{NodejsLayerVersion\}|\d+)$/;
    const t = templateFunction().Layers as unknown[];
    const s = sFunction().layers as string[];
    expect(t).toHaveLength(2);
    expect(s).toHaveLength(2);
    const tNode = nodeLayer.exec(sub(t[0]));
    const sNode = nodeLayer.exec(s[0] as string);
    expect(tNode && sNode).toBeTruthy();
    expect(sNode![1]).toBe(resolved({ Ref: 'NodejsLayerVersion' }));
    const gitLayer = (t[1] as Json)['Fn::GetAtt'] as string[];
    expect(((template.Resources as Record<string, Json>)[gitLayer[0]!] as Json).Type).toBe('ALIYUN::FC3::LayerVersion');
    expect(props((template.Resources as Record<string, Json>)[gitLayer[0]!] as Json).CompatibleRuntime).toEqual(['custom.debian10', 'custom.debian11', 'custom.debian12']);
    expect(s[1]).toMatch(/^\$\{env\('[A-Z_]+'\)\}$/);
  });

  it('configures the initializer and pre-stop hooks within FC limits, the same in both files', () => {
    const t = templateFunction().InstanceLifecycleConfig as Json;
    const s = sFunction().instanceLifecycleConfig as Json;
    const tInit = (t.Initializer as Json).Timeout as number;
    const tStop = (t.PreStop as Json).Timeout as number;
    expect((s.initializer as Json).timeout).toBe(tInit);
    expect((s.preStop as Json).timeout).toBe(tStop);
    expect(tInit).toBeGreaterThan(INITIALIZE_ANSWER_SECONDS);
    expect(tInit).toBeLessThanOrEqual(INITIALIZER_MAX);
    expect(tStop).toBeGreaterThanOrEqual(1);
    expect(tStop).toBeLessThanOrEqual(PRE_STOP_MAX);
  });

  it("fits the worker's pre-stop drain (grace for running jobs, then cleanup) in the PreStop timeout", async () => {
    const server = await readFile(join(ROOT, 'src/worker/runtime/server.ts'), 'utf8');
    const cleanup = /const PRE_STOP_CLEANUP_MS = ([\d_]+);/.exec(server)?.[1];
    expect(cleanup, 'PRE_STOP_CLEANUP_MS in src/worker/runtime/server.ts').toBeDefined();
    const cleanupSeconds = Number((cleanup as string).replace(/_/g, '')) / 1000;
    const preStop = ((templateFunction().InstanceLifecycleConfig as Json).PreStop as Json).Timeout as number;
    for (const env of [templateEnv(), sEnv()]) {
      const grace = loadConfig({ FERRY_PRE_STOP_GRACE: literal(env.FERRY_PRE_STOP_GRACE) ?? '' }).preStopGraceMs / 1000;
      expect(grace + cleanupSeconds).toBeLessThan(preStop);
    }
  });

  it('gives both files the same size, and room for the settings', () => {
    const t = templateFunction();
    const s = sFunction();
    expect([s.cpu, s.memorySize, s.diskSize, s.timeout, s.instanceConcurrency, s.internetAccess]).toEqual([t.Cpu, t.MemorySize, t.DiskSize, t.Timeout, t.InstanceConcurrency, t.InternetAccess]);
    expect(t.DiskSize).toBeGreaterThanOrEqual(10240);
    const env = templateEnv();
    expect(Number(literal(env.FERRY_MIRROR_MAX_BYTES))).toBeLessThan((t.DiskSize as number) * 1024 * 1024);
    // A job that overruns ends as the worker's own error, reported to the client, not as an FC timeout.
    expect(Number(literal(env.FERRY_JOB_TIMEOUT))).toBeLessThan(t.Timeout as number);
  });

  it('never lets FC hand an instance more job invocations than it runs at once', () => {
    // Async job invocations go through the worker's job queue (FERRY_CONCURRENCY at once). With more
    // instance slots than that, FC could route a job to an instance where it waits in the queue while its
    // invocation timeout runs; with at most that many, FC keeps the surplus in its own queue.
    for (const [slots, env] of [
      [templateFunction().InstanceConcurrency, templateEnv()],
      [sFunction().instanceConcurrency, sEnv()],
    ] as const) {
      expect(slots).toBeGreaterThanOrEqual(1);
      expect(slots as number).toBeLessThanOrEqual(Number(literal(env.FERRY_CONCURRENCY)));
    }
  });

  it('sets the async invocation retries and event age explicitly, the same in both files', () => {
    const configs = resourcesOfType('ALIYUN::FC3::AsyncInvokeConfig');
    expect(configs).toHaveLength(1);
    const t = props(configs[0]![1]);
    expect((t.FunctionName as Json)['Fn::GetAtt']).toEqual([resourcesOfType('ALIYUN::FC3::Function')[0]![0], 'FunctionName']);
    const s = sFunction().asyncInvokeConfig as Json;
    expect(typeof t.MaxAsyncRetryAttempts).toBe('number');
    expect(typeof t.MaxAsyncEventAgeInSeconds).toBe('number');
    expect([s.maxAsyncRetryAttempts, s.maxAsyncEventAgeInSeconds]).toEqual([t.MaxAsyncRetryAttempts, t.MaxAsyncEventAgeInSeconds]);
  });

  it('sends a job event whose retries are spent back to the function itself (WORKER_LOST), in both files', () => {
    const t = props(resourcesOfType('ALIYUN::FC3::AsyncInvokeConfig')[0]![1]);
    const destination = ((t.DestinationConfig as Json).OnFailure as Json).Destination as Json;
    expect(destination['Fn::Sub']).toBe('acs:fc:${ALIYUN::Region}:${ALIYUN::AccountId}:functions/${FunctionName}');
    const s = (((sFunction().asyncInvokeConfig as Json).destinationConfig as Json).onFailure as Json).destination;
    expect(s).toBe("acs:fc:${vars.region}:${config('AccountID')}:functions/${vars.functionName}");
  });

  it('has no anonymous HTTP trigger: clients come through API Gateway, jobs through InvokeFunction', () => {
    const triggers = [
      ...resourcesOfType('ALIYUN::FC3::Trigger').map(([, r]) => props(r)),
      ...((sFunction().triggers as Json[] | undefined) ?? []),
    ];
    for (const trigger of triggers) {
      expect(JSON.stringify(trigger).toLowerCase()).not.toMatch(/"authtype":"anonymous"/);
    }
  });

  describe('serves the hooks the templates configure', () => {
    let worker: Worker;
    let base: string;
    let close: () => void;
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ferry-templates-'));
      worker = createWorker(loadConfig({ FERRY_WORK_DIR: dir }), () => undefined);
      const server = createRuntimeServer({ api: worker.api, runJob: worker.runJob, warmUp: worker.warmUp, gatewaySecret: 'g'.repeat(32), dispatchSecret: undefined, httpApi: false, log: () => undefined });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      close = () => server.close();
    });
    afterAll(async () => {
      close?.();
      await rm(dir, { recursive: true, force: true });
    });

    it('POST /initialize and GET /pre-stop answer 2xx with the HTTP API off, as in production', async () => {
      const init = await fetch(`${base}/initialize`, { method: 'POST', body: '' });
      expect(init.status).toBeLessThan(300);
      const stop = await fetch(`${base}/pre-stop`);
      expect(stop.status, await stop.text()).toBeLessThan(300);
    });

    it('routes every API the gateway forwards (NOTIFY is delivered by the gateway itself)', async () => {
      for (const api of await localGatewayApis()) {
        if (api.type === 'NOTIFY') continue;
        const response = await worker.api(new Request(`http://worker.invalid${api.path.replace(/\[[^\]]+\]/g, 'x')}`, { method: api.method, body: api.method === 'POST' ? '{}' : undefined }));
        const problem = (await response.json()) as { code?: string };
        expect([problem.code, api.path]).not.toEqual(['NOT_FOUND', api.path]);
        expect([problem.code, api.path]).not.toEqual(['METHOD_NOT_ALLOWED', api.path]);
      }
    });
  });
});

describe('API Gateway', () => {
  it('publishes exactly the APIs of the local gateway, with the same methods, paths, websocket types and auth', async () => {
    const local = await localGatewayApis();
    const deployed = templateApis();
    const key = (a: { method: string; path: string; type: string }): string => `${a.method} ${a.path} ${a.type}`;
    expect(deployed.map(key).sort()).toEqual(local.map(key).sort());
    for (const api of local) {
      const match = deployed.find((d) => key(d) === key(api))!;
      expect(match.props.AuthType, key(api)).toEqual(api.auth ?? { Ref: 'ClientAuth' });
    }
  });

  it('has every backend call the function as an FC 3.0 event with the gateway secret as a constant header', () => {
    const functionName = resourcesOfType('ALIYUN::FC3::Function')[0]![0];
    expect(templateEnv().FERRY_GATEWAY_SECRET).toEqual({ Ref: 'GatewaySecret' });
    for (const api of templateApis()) {
      const service = api.props.ServiceConfig as Json;
      expect(service.ServiceProtocol, api.name).toBe('FunctionCompute');
      const fc = service.FunctionComputeConfig as Json;
      expect([fc.FcVersion, fc.FcType, fc.Qualifier], api.name).toEqual(['3.0', 'FCEvent', 'LATEST']);
      expect(fc.FunctionName, api.name).toEqual({ 'Fn::GetAtt': [functionName, 'FunctionName'] });
      const constants = (api.props.ConstParameters as Json[] | undefined) ?? [];
      expect(constants, api.name).toContainEqual(expect.objectContaining({ ServiceParameterName: GATEWAY_SECRET_HEADER, Location: 'HEAD', ConstValue: { Ref: 'GatewaySecret' } }));
    }
  });

  it('deploys every API to RELEASE, authorises the app on all of them and throttles the client APIs', () => {
    const apis = templateApis().map((a) => a.name).sort();
    const deployed = resourcesOfType('ALIYUN::ApiGateway::Deployment').map(([, r]) => props(r));
    for (const d of deployed) expect(d.StageName).toBe('RELEASE');
    expect(deployed.map((d) => ((d.ApiId as Json)['Fn::GetAtt'] as string[])[0]).sort()).toEqual(apis);
    const [, auth] = resourcesOfType('ALIYUN::ApiGateway::Authorization')[0]!;
    expect((props(auth).ApiIds as Json[]).map((id) => (id['Fn::GetAtt'] as string[])[0]).sort()).toEqual(apis);
    const [, binding] = resourcesOfType('ALIYUN::ApiGateway::TrafficControlBinding')[0]!;
    const throttled = (props(binding).ApiIds as Json[]).map((id) => (id['Fn::GetAtt'] as string[])[0]);
    const clientApis = templateApis().filter((a) => a.type !== 'NOTIFY').map((a) => a.name);
    expect(throttled.sort()).toEqual(clientApis.sort());
  });

  it('outputs what a client and the s.yaml deploy need', () => {
    const outputs = Object.keys(template.Outputs as Json);
    for (const name of ['GatewayWebSocketUrl', 'NotifyUrl', 'AppKey', 'BucketName', 'FunctionName', 'RoleArn', 'GitLayerArn']) expect(outputs).toContain(name);
  });
});

describe('RAM role', () => {
  /** The key prefixes the worker writes and reads: from the key builders and the literal keys in its code. */
  function usedPrefixes(): string[] {
    const files = fileKeys('https://github.com/o/r/releases/download/v1/a.zip');
    const keys = [...Object.values(archiveKeys('https://github.com/o/r', 'a'.repeat(40), 'zip')), jobStateKey('job'), leasePrefix('key'), counterPrefix('2026-01-01', 'global'), UPLOADS_PREFIX, chainKey(bundlePrefix('https://github.com/o/r')), files.entry, files.object('https://objects.githubusercontent.com/a', {})];
    for (const text of workerSources.values()) {
      for (const match of text.matchAll(/\.(?:put|putIfAbsent|getText|getStream|delete|initMultipart|uploadPart|completeMultipart|abortMultipart|signGetUrl)\(\s*['"`]([^'"`$]+)['"`]/g)) keys.push(match[1] as string);
    }
    return [...new Set(keys.map((key) => `${key.split('/')[0]}/`))].sort();
  }

  it('is trusted by Function Compute only', () => {
    const roleName = ((templateFunction().Role as Json)['Fn::GetAtt'] as string[])[0]!;
    const trust = props((template.Resources as Record<string, Json>)[roleName] as Json).AssumeRolePolicyDocument as Json;
    const principals = (trust.Statement as Json[]).flatMap((s) => list((s.Principal as Json).Service));
    expect(principals).toEqual(['fc.aliyuncs.com']);
  });

  it('allows exactly the OSS actions of the operations the worker has, on exactly the prefixes it uses', () => {
    const store = createObjectStore({
      ...loadConfig({}).oss,
      bucket: 'ferry-data',
      endpoint: 'https://oss-cn-hongkong-internal.aliyuncs.com',
      credentials: { accessKeyId: 'id', accessKeySecret: 'secret' },
    });
    expect(Object.keys(store).sort(), 'every storage operation needs a row in RAM_ACTIONS').toEqual(Object.keys(RAM_ACTIONS).sort());
    const needed = [...new Set(Object.values(RAM_ACTIONS).flat())].sort();

    const oss = rolePolicyStatements().filter((s) => list(s.Action).some((a) => String(a).startsWith('oss:')));
    for (const s of oss) expect(s.Effect).toBe('Allow');
    const granted = [...new Set(oss.flatMap((s) => list(s.Action) as string[]))].sort();
    expect(granted).toEqual(needed);
    const isListing = (s: Json): boolean => list(s.Action).includes('oss:ListObjects');
    const resources = [...new Set(oss.filter((s) => !isListing(s)).flatMap((s) => list(s.Resource).map(sub)))].sort();
    expect(resources).toEqual(usedPrefixes().map((prefix) => `acs:oss:*:*:\${BucketName}/${prefix}*`));
    expect(usedPrefixes()).toEqual(['archives/', 'bundles/', 'files/', 'jobs/', 'leases/', 'quota/', 'uploads/']);
    // Listing is the one bucket-level action: alone in its statement, and only under the lease, quota and upload-record prefixes.
    const listing = oss.filter(isListing);
    expect(listing.map((s) => ({ actions: list(s.Action), resources: list(s.Resource).map(sub), condition: s.Condition }))).toEqual([
      { actions: ['oss:ListObjects'], resources: ['acs:oss:*:*:${BucketName}'], condition: { StringLike: { 'oss:Prefix': [`${leasePrefix('key').split('/')[0]}/*`, `${counterPrefix('d', 'k').split('/')[0]}/*`, `${UPLOADS_PREFIX}*`] } } },
    ]);
  });

  it('grants nothing else but invoking this function and writing its logs', () => {
    const others = rolePolicyStatements().filter((s) => !list(s.Action).some((a) => String(a).startsWith('oss:')));
    const byAction = Object.fromEntries(others.map((s) => [list(s.Action).join(','), list(s.Resource).map(sub)]));
    expect(Object.keys(byAction).sort()).toEqual(['fc:InvokeFunction', 'log:PostLogStoreLogs']);
    for (const arn of byAction['fc:InvokeFunction']!) {
      expect(arn).toMatch(/^acs:fc:\$\{ALIYUN::Region\}:\$\{ALIYUN::AccountId\}:functions\/\$\{FunctionName\}(\/\*)?$/);
    }
    expect(templateFunction().FunctionName).toEqual({ Ref: 'FunctionName' });
    expect(byAction['log:PostLogStoreLogs']).toEqual(['acs:log:${ALIYUN::Region}:${ALIYUN::AccountId}:project/${LogProject}/logstore/${LogStore}']);
    expect(templateFunction().LogConfig).toMatchObject({ Project: { Ref: 'LogProject' }, Logstore: { Ref: 'LogStore' } });
  });
});

describe('OSS lifecycle', () => {
  function rules(): Json[] {
    const buckets = resourcesOfType('ALIYUN::OSS::Bucket');
    expect(buckets).toHaveLength(1);
    expect(props(buckets[0]![1]).BucketName).toEqual({ Ref: 'BucketName' });
    return (props(buckets[0]![1]).LifecycleConfiguration as Json).Rule as Json[];
  }

  it('expires archives/ after the ArchiveExpiryDays parameter and jobs/ after 7 days', () => {
    const archives = rules().find((r) => r.Prefix === `${archiveKeys('r', 'c'.repeat(40), 'zip').object.split('/')[0]}/`);
    expect(archives?.Status).toBe('Enabled');
    expect((archives?.Expiration as Json).Days).toEqual({ Ref: 'ArchiveExpiryDays' });
    expect((template.Parameters as Record<string, Json>).ArchiveExpiryDays?.Type).toBe('Number');
    const jobs = rules().find((r) => r.Prefix === `${jobStateKey('j').split('/')[0]}/`);
    expect(jobs?.Status).toBe('Enabled');
    expect((jobs?.Expiration as Json).Days).toBe(7);
  });

  it('expires build leases after a day: a live one is rewritten every few seconds', () => {
    const leases = rules().find((r) => r.Prefix === `${leasePrefix('key').split('/')[0]}/`);
    expect(leases?.Status).toBe('Enabled');
    expect((leases?.Expiration as Json).Days).toBe(1);
  });

  it('expires quota counters after two days: only the current UTC day\'s are read', () => {
    const quota = rules().find((r) => r.Prefix === `${counterPrefix('2026-01-01', 'global').split('/')[0]}/`);
    expect(quota?.Status).toBe('Enabled');
    expect((quota?.Expiration as Json).Days).toBe(2);
  });

  it('aborts incomplete multipart uploads after a day wherever the worker uploads in parts', () => {
    // Multipart uploads are uploadStream's; it is called from the one upload path every kind shares.
    const calls = [...workerSources.entries()].flatMap(([file, text]) => [...text.matchAll(/\buploadStream\(\s*\w+,\s*([^,]+),/g)].map((m) => `${relative(ROOT, file)}: ${m[1]}`));
    expect(calls).toEqual(['src/worker/artifacts/stored.ts: target.key']);
    for (const key of [archiveKeys('r', 'c'.repeat(40), 'zip').object, `${bundlePrefix('r')}/${'d'.repeat(40)}.bundle`, fileKeys('r').object('r', {})]) {
      const covering = rules().filter((r) => key.startsWith(String(r.Prefix ?? '')) && r.Status === 'Enabled' && r.AbortMultipartUpload);
      expect(covering.length, key).toBeGreaterThan(0);
      for (const r of covering) expect((r.AbortMultipartUpload as Json).Days).toBe(1);
    }
  });

  it("expires bundles only well after a chain stops naming them: its base's age limit is below the rule's days", () => {
    const bundles = rules().find((r) => r.Prefix === `${bundlePrefix('r').split('/')[0]}/`);
    expect(bundles?.Status).toBe('Enabled');
    const days = (bundles?.Expiration as Json).Days as number;
    const longest = loadConfig({ FERRY_BUNDLE_BASE_DAYS: '10000' }).bundleChain.maxBaseAgeMs / (24 * 3600 * 1000);
    expect(longest).toBeLessThan(days);
  });
});

describe('OSS lifecycle of files', () => {
  it('expires files/ only after an entry stops being served: its age limit is below the rule\'s days', () => {
    const buckets = resourcesOfType('ALIYUN::OSS::Bucket');
    const rules = (props(buckets[0]![1]).LifecycleConfiguration as Json).Rule as Json[];
    const files = rules.find((r) => r.Prefix === `${fileKeys('r').entry.split('/')[0]}/`);
    expect(files?.Status).toBe('Enabled');
    expect(FILE_ENTRY_MAX_AGE_MS / (24 * 3600 * 1000)).toBeLessThan((files?.Expiration as Json).Days as number);
  });
});

describe('.fcignore', () => {
  it('keeps the repository, sources, tests and every development package out of a deploy of the root', async () => {
    const lines = (await readFile(join(ROOT, '.fcignore'), 'utf8')).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const path of ['.git/', 'src/', 'test/', 'docs/', 'dist/deploy/']) expect(lines).toContain(path);
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; dependencies: Record<string, string> };
    for (const name of Object.keys(manifest.devDependencies)) {
      const scope = name.startsWith('@') ? `node_modules/${name.split('/')[0]}/` : undefined;
      expect(lines.includes(`node_modules/${name}/`) || (scope !== undefined && lines.includes(scope)), `node_modules/${name}/ in .fcignore`).toBe(true);
    }
    for (const name of Object.keys(manifest.dependencies)) {
      const covering = ['node_modules/', `node_modules/${name}/`, `node_modules/${name.split('/')[0]}/`];
      expect(lines.filter((l) => covering.includes(l)), `${name} is needed at run time`).toEqual([]);
    }
    for (const needed of ['dist/', 'bootstrap', 'package.json']) expect(lines).not.toContain(needed);
  });
});
