// Issue "gateway", notify fan-out: N websocket clients, each registered as its own device; the
// "backend" (this process) pushes M progress messages per client through the signed NOTIFY API over
// HTTP, one ordered lane per client as the worker's notifier does, at most `concurrency` requests in
// flight. Every client must receive exactly its own M messages, in order, and nothing else.
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { signRequest } from '../../src/protocol/apigw-signature.js';
import { startProcess } from '../helpers/process.js';
import { ROOT } from '../helpers/worker-process.js';
import { GatewayClient } from './gateway-client.js';
import { cpuDelta, cpuTimes, now, peakRss, percentile } from './measure.js';

export interface FanoutOptions {
  clients: number;
  messagesPerClient: number;
  concurrency: number;
}

export interface FanoutResult {
  clients: number;
  messages: number;
  connectMs: number;
  deliverMs: number;
  messagesPerSecond: number;
  /** NOTIFY call start → NF# arrival at the client. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Clients that got exactly their own messages, in order, and were not closed. */
  clientsCorrect: number;
  problems: string[];
  gatewayCpuMs: number | undefined;
  gatewayPeakRssBytes: number | undefined;
  benchCpuMs: number;
}

export async function runFanout(options: FanoutOptions): Promise<FanoutResult> {
  const app = { appKey: 'fanout-backend', appSecret: randomBytes(18).toString('base64url') };
  const gateway = await startGatewayProcess(app);
  const clients: GatewayClient[] = [];
  try {
    const connectStart = now();
    for (let i = 0; i < options.clients; i += 50) {
      const batch = Array.from({ length: Math.min(50, options.clients - i) }, (_, j) => GatewayClient.connect(gateway.wsUrl, `fan-${i + j}`));
      clients.push(...(await Promise.all(batch)));
    }
    const connectMs = now() - connectStart;

    const total = options.clients * options.messagesPerClient;
    const sentAt = new Map<string, number>();
    const latencies: number[] = [];
    let received = 0;
    let lastArrival = 0;
    let allArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (allArrived = resolve));
    for (const client of clients) {
      client.onPush = (push) => {
        const message = JSON.parse(push.body) as { jobId: string; percent: number };
        const sent = sentAt.get(`${message.jobId}/${message.percent}`);
        if (sent !== undefined) latencies.push(push.at - sent);
        lastArrival = push.at;
        if (++received === total) allArrived();
      };
    }

    const slots = new PQueue({ concurrency: options.concurrency });
    // node:http with keep-alive: far less client-side CPU per call than fetch, so the sender does not
    // starve the gateway of the machine's second core.
    const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
    const notifyUrl = `${gateway.url}/notify`;
    const gatewayCpu = cpuTimes(gateway.pid);
    const benchCpu = process.cpuUsage();
    const sendStart = now();
    const failures: string[] = [];
    await Promise.all(
      clients.map(async (_, i) => {
        for (let k = 0; k < options.messagesPerClient; k++) {
          const jobId = `job-${i}`;
          const body = JSON.stringify({ v: 1, type: 'progress', jobId, phase: 'uploading', percent: k, bytes: k * 65536, total: options.messagesPerClient * 65536, ts: Date.now() });
          await slots.add(async () => {
            const headers = signRequest({ method: 'POST', path: '/notify', headers: { 'content-type': 'application/json', 'x-ca-deviceid': `fan-${i}` }, body }, app);
            sentAt.set(`${jobId}/${k}`, now());
            const response = await post(agent, notifyUrl, headers, body);
            if (response.status !== 200 && failures.length < 5) failures.push(`NOTIFY fan-${i} #${k}: ${response.status} ${response.error}`);
          });
        }
      }),
    );
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([arrived, timeout]);
    const deliverMs = (received === total ? lastArrival : now()) - sendStart;
    const gatewayCpuMs = cpuDelta(gatewayCpu, cpuTimes(gateway.pid))?.selfMs;
    const benchUsage = process.cpuUsage(benchCpu);
    agent.destroy();

    const problems = [...failures];
    let clientsCorrect = 0;
    clients.forEach((client, i) => {
      const got = client.pushes.map((push) => JSON.parse(push.body) as { jobId: string; percent: number });
      const expected = Array.from({ length: options.messagesPerClient }, (_, k) => `job-${i}/${k}`);
      const actual = got.map((m) => `${m.jobId}/${m.percent}`);
      const closed = client.closedWith !== undefined || client.control.some((frame) => frame === 'OS' || frame === 'CR');
      if (!closed && actual.length === expected.length && actual.every((key, k) => key === expected[k])) clientsCorrect++;
      else if (problems.length < 10) problems.push(`fan-${i}: ${closed ? `closed (${client.control.join(',')}) ` : ''}got ${actual.length}/${expected.length}, first wrong ${actual.find((key, k) => key !== expected[k]) ?? '-'}`);
    });

    return {
      clients: options.clients,
      messages: received,
      connectMs,
      deliverMs,
      messagesPerSecond: (received / deliverMs) * 1000,
      latencyP50Ms: percentile(latencies, 50),
      latencyP99Ms: percentile(latencies, 99),
      clientsCorrect,
      problems,
      gatewayCpuMs,
      gatewayPeakRssBytes: peakRss(gateway.pid),
      benchCpuMs: (benchUsage.user + benchUsage.system) / 1000,
    };
  } finally {
    for (const client of clients) client.close();
    await gateway.close();
  }
}

interface GatewayProcess {
  url: string;
  wsUrl: string;
  pid: number;
  close(): Promise<void>;
}

async function startGatewayProcess(app: { appKey: string; appSecret: string }): Promise<GatewayProcess> {
  const gateway = await startProcess({
    command: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'test/bench/fanout-gateway.ts')],
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, FANOUT_APP_KEY: app.appKey, FANOUT_APP_SECRET: app.appSecret },
    ready: /^READY (\S+)/,
    name: 'the fan-out gateway',
    timeoutMs: 20_000,
  });
  const url = gateway.ready[1] as string;
  return { url, wsUrl: url.replace(/^http/, 'ws'), pid: gateway.child.pid as number, close: () => gateway.stop() };
}

function post(agent: Agent, url: string, headers: Record<string, string>, body: string): Promise<{ status: number; error: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, error: String(res.headers['x-ca-error-message'] ?? '') }));
    });
    req.once('error', reject);
    req.end(body);
  });
}
