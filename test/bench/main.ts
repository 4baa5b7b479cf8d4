// `npm run bench`: ferry against a native git baseline measured in the same run, on the same
// machine, through the same local smart-HTTP server. Prints a table and writes
// test/artifacts/bench.json. Knobs (environment): see docs/benchmarks.md.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { benchRoot } from '../helpers/fixtures.js';
import { startGitServer } from '../helpers/git-server.js';
import { ROOT } from '../helpers/worker-process.js';
import { runBaseline, type BaselineRun } from './baseline.js';
import { runCloneBench } from './clone.js';
import { runFanout, type FanoutResult } from './fanout.js';
import { runFilesBench } from './files.js';
import { runLinkBench } from './link.js';
import { median, now, percentile } from './measure.js';
import { runReblock, summariseReblock } from './reblock.js';
import { finishRun, megabytes, millis, ratio, ratioRow, seconds, verdict, type Row } from './report.js';
import { runCacheHits, runFerryGet, runWsGet, startStack, warmUpStack, type CacheHitRun, type E2eRun, type StackOptions } from './stack-e2e.js';
import { runWorkerJob, type WorkerJobRun } from './worker-job.js';

// Defaults: docs/benchmarks.md. Five runs because this class of machine is noisy; medians are reported.
const config = {
  runs: envInt('BENCH_RUNS', 5),
  format: envFormat(),
  cacheHits: envInt('BENCH_CACHE_HITS', 30),
  fanoutClients: envInt('BENCH_FANOUT_CLIENTS', 500),
  fanoutMessages: envInt('BENCH_FANOUT_MESSAGES', 40),
  fanoutConcurrency: envInt('BENCH_FANOUT_CONCURRENCY', 32),
  pullCommits: envInt('BENCH_PULL_COMMITS', 50),
  sections: (process.env.BENCH_ONLY ?? 'core,e2e,reblock,fanout,clone,link,files').split(',').map((s) => s.trim()),
  linkGithubRuns: envInt('BENCH_LINK_GITHUB_RUNS', 1),
  linkConnections: envIntList('BENCH_LINK_CONNECTIONS', [1, 2, 4, 8, 16]),
  fileMegabytes: envInt('BENCH_FILE_MB', 200),
};
// FERRY_* variables in the bench's environment reach the worker: for experiments (FERRY_PART_SIZE, …).
const workerEnv = Object.fromEntries(Object.entries(process.env).filter(([name, value]) => name.startsWith('FERRY_') && value !== undefined)) as Record<string, string>;

const started = now();
const loadBefore = loadavg();
const rows: Row[] = [];
const results: Record<string, unknown> = {};
const log = (line: string): void => console.error(`[bench ${seconds(now() - started).padStart(8)}] ${line}`);

if ((loadBefore[0] ?? 0) > 0.5) log(`warning: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before the run: other work on this machine skews the figures`);
// Only the sections that clone need the repository, its git server and a warm page cache.
if (config.sections.includes('core') || config.sections.includes('e2e')) {
  log(`building the benchmark repository (once) …`);
  const git = await startGitServer({ root: await benchRoot() });
  const repo: Repo = { url: `${git.url}/bench/big`, warmUrl: `${git.url}/bench/warm`, host: git.host };
  try {
    log(`warm-up: one native clone so the git server's page cache is warm for everyone`);
    await runBaseline(repo.url, config.format);
    if (config.sections.includes('core')) await core(repo);
    if (config.sections.includes('e2e')) await e2e(repo);
  } finally {
    await git.close();
  }
}
if (config.sections.includes('reblock')) await reblock();
if (config.sections.includes('fanout')) await fanout();
if (config.sections.includes('clone')) await clone();
if (config.sections.includes('link')) await link();
if (config.sections.includes('files')) await files();

await finishRun({ file: join(ROOT, 'test/artifacts/bench.json'), rows, config: { ...config, workerEnv }, results, loadBefore, elapsedMs: now() - started, log });

/** Issue "core": cold job latency against the native baseline, peak RSS, CPU. */
interface Repo {
  url: string;
  warmUrl: string;
  host: string;
}

async function core(repo: Repo): Promise<void> {
  const baseline: BaselineRun[] = [];
  const ferry: WorkerJobRun[] = [];
  const options = { repoUrl: repo.url, gitHost: repo.host, format: config.format, extraEnv: workerEnv };
  log(`core: warm-up job (not counted)`);
  await runWorkerJob(options);
  for (let i = 0; i < config.runs; i++) {
    // Interleaved, alternating which goes first, so drift on the machine hits both sides alike.
    const steps = [
      async () => baseline.push(await runBaseline(repo.url, config.format)),
      async () => ferry.push(await runWorkerJob(options)),
    ];
    if (i % 2 === 1) steps.reverse();
    for (const step of steps) await step();
    log(`core run ${i + 1}/${config.runs}: native ${seconds(baseline.at(-1)?.ms ?? NaN)}, ferry ${seconds(ferry.at(-1)?.ms ?? NaN)}`);
  }
  results.core = { baseline, ferry };

  const ferryMs = median(ferry.map((r) => r.ms));
  const nativeMs = median(baseline.map((r) => r.ms));
  const rss = Math.max(...ferry.map((r) => r.peakRssBytes ?? NaN));
  const cpu = median(ferry.map((r) => (r.cpuSelfMs ?? NaN) + (r.cpuChildrenMs ?? NaN)));
  const nativeCpu = median(baseline.map((r) => r.cpuMs));
  const phase = (name: string): number => median(ferry.map((r) => r.phases[name] ?? NaN));
  rows.push(
    ratioRow(
      `job latency, cold (${config.format})`,
      ferryMs,
      nativeMs,
      1.2,
      `median of ${config.runs}; ferry: POST answered ${millis(median(ferry.map((r) => r.acceptedMs)))}, then the worker's phases ` +
        `(medians, from its log line) resolving ${millis(phase('resolving'))}, fetching ${millis(phase('fetching'))}, archiving ${millis(phase('archiving'))}, ` +
        `uploading the rest ${millis(phase('uploading'))}, signing ${millis(phase('signing'))}; done ${millis(ferryMs)}; ` +
        `native: clone ${millis(median(baseline.map((r) => r.cloneMs)))} + archive ${millis(median(baseline.map((r) => r.archiveMs)))}`,
    ),
    {
      metric: 'worker peak RSS (VmHWM)',
      ferry: megabytes(rss),
      baseline: '-',
      ratio: '-',
      target: '<= 150 MB',
      result: verdict(rss <= 150 * 1024 ** 2),
      note: `highest of ${config.runs} runs; the worker's node process only (git children not included)`,
    },
    {
      metric: 'CPU time (user+sys)',
      ferry: seconds(cpu),
      baseline: seconds(nativeCpu),
      ratio: ratio(cpu / nativeCpu),
      target: '-',
      result: 'info',
      note:
        `ferry: worker node ${seconds(median(ferry.map((r) => r.cpuSelfMs ?? NaN)))} + its git children ${seconds(median(ferry.map((r) => r.cpuChildrenMs ?? NaN)))}; ` +
        `native: git clone + git archive; the git server's CPU and the local OSS store's are in neither`,
    },
  );
}

/** Issue "gateway": cold `ferry get` through `ferry serve`, the same trip by a raw client, cache hits. */
async function e2e(repo: Repo): Promise<void> {
  const options: StackOptions = { repoUrl: repo.url, warmUrl: repo.warmUrl, gitHost: repo.host, format: config.format, extraEnv: workerEnv };
  const baseline: BaselineRun[] = [];
  const ws: E2eRun[] = [];
  const cli: E2eRun[] = [];
  let hits: CacheHitRun[] = [];
  for (let i = 0; i < config.runs; i++) {
    const last = i === config.runs - 1;
    const steps: (() => Promise<unknown>)[] = [
      async () => baseline.push(await runBaseline(repo.url, config.format)),
      async () => {
        const s = await startStack(options);
        try {
          await warmUpStack(s, options);
          ws.push(await runWsGet(s, options, `bench-ws-${i}`));
          // The stack is warm now: the same job again is a cache hit (3 warm-up submissions dropped).
          if (last) hits = (await runCacheHits(s, options, 'bench-hits', config.cacheHits + 3)).slice(3);
        } catch (error) {
          throw new Error(`${(error as Error).message}\nstack log:\n${s.log.slice(-15).join('\n')}`, { cause: error });
        } finally {
          await s.close();
        }
      },
      async () => {
        const s = await startStack(options);
        try {
          await warmUpStack(s, options);
          cli.push(await runFerryGet(s, options));
        } catch (error) {
          throw new Error(`${(error as Error).message}\nstack log:\n${s.log.slice(-15).join('\n')}`, { cause: error });
        } finally {
          await s.close();
        }
      },
    ];
    if (i % 2 === 1) steps.reverse();
    for (const step of steps) await step();
    log(`e2e run ${i + 1}/${config.runs}: native ${seconds(baseline.at(-1)?.ms ?? NaN)}, ws client ${seconds(ws.at(-1)?.ms ?? NaN)}, ferry get ${seconds(cli.at(-1)?.ms ?? NaN)}`);
  }
  results.e2e = { baseline, ws, cli, cacheHits: hits };

  const nativeMs = median(baseline.map((r) => r.ms));
  const cliMs = median(cli.map((r) => r.ms));
  const wsMs = median(ws.map((r) => r.ms));
  rows.push(
    ratioRow('ferry get, cold, incl. download', cliMs, nativeMs, 1.3, `median of ${cli.length}; CLI process start to exit, through gateway + FC emulator + worker + OSS, download included`),
    ratioRow(
      'raw ws client, cold, incl. download',
      wsMs,
      nativeMs,
      1.3,
      `median of ${ws.length}; the bench's own client (test/bench/gateway-client.ts): connect, register, POST /jobs frame, done push, download + sha256`,
    ),
    {
      metric: 'cache hit, submit -> done push',
      ferry: `p50 ${millis(percentile(hits.map((h) => h.doneMs), 50))}`,
      baseline: '-',
      ratio: '-',
      target: 'p50 <= 100 ms',
      result: verdict(percentile(hits.map((h) => h.doneMs), 50) <= 100),
      note:
        `${hits.length} submissions on one connection; p95 ${millis(percentile(hits.map((h) => h.doneMs), 95))}, ` +
        `max ${millis(Math.max(...hits.map((h) => h.doneMs)))}; response frame p50 ${millis(percentile(hits.map((h) => h.responseMs), 50))}`,
    },
  );
}

/** The chunks node reads from `git archive` per transport: a measured figure, with no target. */
async function reblock(): Promise<void> {
  log(`re-blocker: archiving bench/big.git ${config.runs} times per transport`);
  const runs = await runReblock(join(await benchRoot(), 'bench/big.git'), config.format, config.runs);
  results.reblock = runs;
  const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
  const [lazy, dd, direct] = summariseReblock(runs);
  if (!lazy || !dd || !direct) return;
  rows.push({
    metric: `archive chunk into node, lazy (${config.format})`,
    ferry: kib(lazy.averageChunkBytes),
    baseline: kib(direct.averageChunkBytes),
    ratio: ratio(lazy.averageChunkBytes / direct.averageChunkBytes),
    target: '-',
    result: 'info',
    note:
      `median of ${config.runs} runs of the average chunk node reads; baseline: git's output read directly. ` +
      `Chunks: lazy ${lazy.chunks}, dd ${dd.chunks} (${kib(dd.averageChunkBytes)} each), direct ${direct.chunks}; ` +
      `archive into node: lazy ${millis(lazy.ms)}, dd ${millis(dd.ms)}, direct ${millis(direct.ms)}`,
  });
}

/** Issue "gateway": notify fan-out to many clients, each receiving only its own job's messages. */
async function fanout(): Promise<void> {
  log(`fan-out: ${config.fanoutClients} clients x ${config.fanoutMessages} messages`);
  const result: FanoutResult = await runFanout({ clients: config.fanoutClients, messagesPerClient: config.fanoutMessages, concurrency: config.fanoutConcurrency });
  results.fanout = result;
  const exact = result.clientsCorrect === result.clients && result.problems.length === 0;
  rows.push({
    metric: `notify fan-out, ${result.clients} clients`,
    ferry: `${Math.round(result.messagesPerSecond)} msg/s`,
    baseline: '-',
    ratio: '-',
    target: 'each gets exactly its own',
    result: verdict(exact),
    note:
      `${result.messages} messages (${config.fanoutMessages}/client) in ${millis(result.deliverMs)}, ${config.fanoutConcurrency} NOTIFY calls in flight; ` +
      `NOTIFY->NF# p50 ${millis(result.latencyP50Ms)}, p99 ${millis(result.latencyP99Ms)}; ${result.clientsCorrect}/${result.clients} clients exact; ` +
      `gateway process CPU ${seconds(result.gatewayCpuMs ?? NaN)}, peak RSS ${megabytes(result.gatewayPeakRssBytes)}; clients+sender CPU ${seconds(result.benchCpuMs)}; ` +
      `connect+register ${millis(result.connectMs)}` +
      (result.problems.length > 0 ? `; problems: ${result.problems.join(' | ')}` : ''),
  });
}

/** Issue 10: `git clone ferry::` and `git pull` against native git, on a repository with a long history. */
async function clone(): Promise<void> {
  const result = await runCloneBench({ runs: config.runs, pullCommits: config.pullCommits, extraEnv: workerEnv, log });
  rows.push(...result.rows);
  results.clone = result.results;
}

/** Issue 11: a 50 MB artifact across a cross-border link, against the link's physical limit and GitHub's side. */
async function link(): Promise<void> {
  const result = await runLinkBench({ runs: config.runs, githubRuns: config.linkGithubRuns, connections: config.linkConnections, extraEnv: workerEnv, log });
  rows.push(...result.rows);
  results.link = result.results;
}

/** Issue 11: a large file from upstream into the store by the worker, against curl and one PUT. */
async function files(): Promise<void> {
  const result = await runFilesBench({ runs: config.runs, size: config.fileMegabytes * 1024 * 1024, extraEnv: workerEnv, log });
  rows.push(...result.rows);
  results.files = result.results;
}

function envIntList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const values = raw.split(',').map((part) => Number(part.trim()));
  if (values.some((value) => !Number.isInteger(value) || value < 1)) throw new Error(`Expected ${name} to be a comma-separated list of integers >= 1, got ${JSON.stringify(raw)}`);
  return values;
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`Expected ${name} to be an integer >= 1, got ${JSON.stringify(raw)}`);
  return value;
}

function envFormat(): 'zip' | 'tar.gz' {
  const raw = process.env.BENCH_FORMAT ?? 'zip';
  if (raw !== 'zip' && raw !== 'tar.gz') throw new Error(`Expected BENCH_FORMAT to be zip or tar.gz, got ${JSON.stringify(raw)}`);
  return raw;
}
