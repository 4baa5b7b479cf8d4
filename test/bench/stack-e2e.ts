// Issue "gateway", end to end through `ferry serve` (gateway + FC emulator + worker + OSS on loopback):
// a cold job from submit to the archive saved on disk, by the `ferry get` CLI or by the bench's own
// raw websocket client, and cache-hit latency from submit to the `done` push.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { GatewayClient, type Pushed } from './gateway-client.js';
import { now } from './measure.js';

export interface StackOptions {
  repoUrl: string;
  /** A small repository of its own: the job a running stack has served before the measured one. */
  warmUrl: string;
  gitHost: string;
  format: string;
  extraEnv: Record<string, string>;
}

export interface Stack {
  stack: LocalStack;
  dir: string;
  log: string[];
  close(): Promise<void>;
}

/** A fresh `ferry serve` on a fresh data dir: cold object store, no mirror. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-stack-'));
  const log: string[] = [];
  const stack = await startLocalStack({
    dataDir: join(dir, 'data'),
    port: 0,
    allowHosts: [options.gitHost],
    allowHttp: true,
    workerEnv: options.extraEnv,
    log: (line) => {
      log.push(line);
      if (log.length > 200) log.shift();
    },
  });
  return {
    stack,
    dir,
    log,
    async close() {
      await stack.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface E2eRun {
  ms: number;
  size: number;
}

interface DoneMessage {
  type: 'done' | 'error' | 'progress';
  jobId: string;
  url?: string;
  size?: number;
  sha256?: string;
  cached?: boolean;
  code?: string;
  message?: string;
}

/**
 * One small job of another repository through the stack, untimed, so the measured job meets a
 * running `ferry serve` (code paths compiled, connections open) rather than its first request. The
 * measured repository still has no mirror and no archive.
 */
export async function warmUpStack(s: Stack, options: StackOptions): Promise<void> {
  const client = await GatewayClient.connect(s.stack.gateway, 'bench-warm-up', { appKey: s.stack.appKey, appSecret: s.stack.appSecret });
  try {
    const done = await submit(client, { ...options, repoUrl: options.warmUrl }, 'bench-warm-up', 60_000);
    if (done.message.type !== 'done' || !done.message.url) throw new Error(`warm-up job failed: ${done.message.code} ${done.message.message}`);
    await (await fetch(done.message.url)).arrayBuffer();
  } finally {
    client.close();
  }
}

/** `ferry get <url> --gateway … --output … --json`, timed from spawn to exit. */
export async function runFerryGet(s: Stack, options: StackOptions): Promise<E2eRun> {
  const output = join(s.dir, `get.${options.format}`);
  const args = [
    'get', options.repoUrl,
    '--gateway', s.stack.gateway,
    '--app-key', s.stack.appKey,
    '--app-secret', s.stack.appSecret,
    '--output', output,
    '--json',
    ...(options.format === 'zip' ? [] : ['--format', options.format]),
  ];
  const start = now();
  const { code, stdout, stderr, events } = await runFerry(args, { timeoutMs: 180_000 });
  const ms = now() - start;
  const saved = events.find((event) => event.type === 'saved');
  if (code !== 0 || !saved) {
    const why = code !== 0 ? `exit ${code}` : 'no {"type":"saved"} line';
    throw new Error(`ferry get: ${why}; stderr: ${oneLine(stderr) || '-'}; stdout: ${oneLine(stdout) || '-'}`);
  }
  return { ms, size: (await stat(output)).size };
}


/**
 * The same trip with the bench's raw client: connect + register, POST /jobs over the websocket,
 * wait for the `done` push, download the signed URL to a file while hashing it, check the sha256.
 */
export async function runWsGet(s: Stack, options: StackOptions, deviceId: string): Promise<E2eRun> {
  const output = join(s.dir, `ws.${options.format}`);
  const start = now();
  const client = await GatewayClient.connect(s.stack.gateway, deviceId, { appKey: s.stack.appKey, appSecret: s.stack.appSecret });
  const connected = now();
  try {
    const done = await submit(client, options, deviceId, 180_000);
    const downloadFrom = now();
    if (done.message.type !== 'done' || !done.message.url) throw new Error(`job failed: ${done.message.code} ${done.message.message}`);
    const response = await fetch(done.message.url);
    if (!response.ok || !response.body) throw new Error(`download answered ${response.status}`);
    const hash = createHash('sha256');
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), hashing, createWriteStream(output));
    const ms = now() - start;
    if (process.env.BENCH_TRACE) {
      const at = (t: number): string => `${Math.round(t - start)} ms`;
      console.error(`[ws] connected ${at(connected)}, response ${at(done.responseAt)}, done push ${at(done.at)}, download from ${at(downloadFrom)} to ${at(start + ms)}`);
      for (const line of s.log.filter((l) => /job \S+ done/.test(l))) console.error(`[worker] ${line}`);
    }
    if (hash.digest('hex') !== done.message.sha256) throw new Error('downloaded archive does not match the sha256 in the done message');
    return { ms, size: (await stat(output)).size };
  } finally {
    client.close();
  }
}

export interface CacheHitRun {
  /** Submit → `done` push. */
  doneMs: number;
  /** Submit → the POST /jobs response frame. */
  responseMs: number;
}

/** Submits the (already built) job `count` times on one connection; each must come back cached. */
export async function runCacheHits(s: Stack, options: StackOptions, deviceId: string, count: number): Promise<CacheHitRun[]> {
  const client = await GatewayClient.connect(s.stack.gateway, deviceId, { appKey: s.stack.appKey, appSecret: s.stack.appSecret });
  try {
    const runs: CacheHitRun[] = [];
    for (let i = 0; i < count; i++) {
      const start = now();
      const done = await submit(client, options, deviceId, 10_000);
      if (done.message.type !== 'done' || done.message.cached !== true) throw new Error(`expected a cached done message, got ${JSON.stringify(done.message)}`);
      runs.push({ doneMs: done.at - start, responseMs: done.responseAt - start });
    }
    return runs;
  } finally {
    client.close();
  }
}

/** POST /jobs over the websocket, then the final push for the job id the response names. */
export async function submit(client: GatewayClient, options: StackOptions, deviceId: string, timeoutMs: number): Promise<{ message: DoneMessage; at: number; responseAt: number }> {
  const from = client.pushes.length;
  const response = await client.call('POST', '/jobs', JSON.stringify({ url: options.repoUrl, format: options.format, deviceId }));
  const responseAt = now();
  if (response.status !== 200 && response.status !== 202) throw new Error(`POST /jobs answered ${response.status}: ${response.body}`);
  const { jobId } = JSON.parse(response.body) as { jobId: string };
  const final = (push: Pushed): DoneMessage | undefined => {
    const message = JSON.parse(push.body) as DoneMessage;
    return message.jobId === jobId && message.type !== 'progress' ? message : undefined;
  };
  // The push may arrive before the response frame: look at what came since the submit first.
  for (const push of client.pushes.slice(from)) {
    const message = final(push);
    if (message) return { message, at: push.at, responseAt };
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no done message for job ${jobId} within ${timeoutMs} ms`)), timeoutMs);
    client.onPush = (push) => {
      const message = final(push);
      if (!message) return;
      clearTimeout(timer);
      client.onPush = undefined;
      resolve({ message, at: push.at, responseAt });
    };
  });
}

function oneLine(text: string): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
