// Issue 11, "Speed" 1: ~50 MB across a cross-border link (test/helpers/link-proxy.ts), as an archive of a
// repository and as a file (the same zip, served by the local upstream as a release asset). The client
// reaches the gateway and the object store through the OSS_HONG_KONG profile while the worker fetches from
// upstream directly (the fast side); the same bytes straight from "GitHub" (git clone, curl) go through the
// GITHUB_FROM_CHINA profile; and the physical limit of the OSS profile is computed (docs/benchmarks.md).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchRoot, git, gitRevParse, sha256File } from '../helpers/fixtures.js';
import { startGitServer } from '../helpers/git-server.js';
import { GITHUB_FROM_CHINA, OSS_HONG_KONG, startLinkProxy, type LinkProfile, type LinkProxy } from '../helpers/link-proxy.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { startFileUpstream } from '../helpers/file-upstream.js';
import { GatewayClient } from './gateway-client.js';
import { githubSide, timedDownload, type GithubSide, type SignedArtifact, type SweepRun } from './link-clients.js';
import { largeRoot } from './large-files.js';
import { median, now } from './measure.js';
import { millis, ratio, seconds, verdict, type Row } from './report.js';
import { startStack, submit, warmUpStack, type Stack, type StackOptions } from './stack-e2e.js';

export interface LinkBenchOptions {
  runs: number;
  /** Runs of `git clone` and `curl` over the GitHub profile (each ~3 min for 50 MB at 300 KB/s). */
  githubRuns: number;
  /** Parallel connections to time the client's download() with. */
  connections: number[];
  extraEnv: Record<string, string>;
  log: (line: string) => void;
}

export interface LinkBenchResult {
  rows: Row[];
  results: Record<string, unknown>;
}

/**
 * Round trips no client can avoid on the OSS profile: a connection to the service and the request that
 * answers with the signed URL (2), then a connection to the object store and the GET that returns the
 * first byte (2). What ferry adds on top (the websocket upgrade, REGISTER, the done push) is measured, not excused.
 */
export const UNAVOIDABLE_ROUND_TRIPS = 4;

/** The physical limit of a profile: the bytes at the link's total rate plus the unavoidable round trips. */
export function physicalLimitMs(profile: LinkProfile, bytes: number, roundTrips = UNAVOIDABLE_ROUND_TRIPS, rate = profile.totalBytesPerSec ?? profile.perConnectionBytesPerSec): number {
  return (bytes * 1000) / rate + roundTrips * profile.rttMs;
}

interface GetRun {
  kind: 'archive' | 'file';
  cold: boolean;
  ms: number;
  size: number;
  /** Connections ferry get opened to the object store (through the proxy). */
  storeConnections: number;
  /** From spawn to its first connection to the store: start-up, the gateway and the job. */
  firstStoreConnectionMs: number;
}

export async function runLinkBench(options: LinkBenchOptions): Promise<LinkBenchResult> {
  const { log } = options;
  log('link: building the large fixtures (once) …');
  const root = await largeRoot();
  await benchRoot(); // bench/warm.git: each fresh stack serves it once, untimed
  const server = await startGitServer({ root });
  const gitDir = join(root, 'large/link.git');
  const repoUrl = `${server.url}/large/link`;
  const head = await gitRevParse(gitDir, 'HEAD');
  const scratch = await mkdtemp(join(tmpdir(), 'ferry-bench-link-'));
  const proxies: LinkProxy[] = [];
  let current: Stack | undefined;
  // When the measured client first connected to the store; reset before each measurement.
  let storeConnectedAt: number | undefined;
  // Why the file rows have no figure: a checkout whose worker or CLI cannot fetch files yet still measures archives.
  let fileSkip: string | undefined;
  const stackPort = (which: 'oss' | 'gateway'): { host: string; port: number } => {
    if (!current) throw new Error('no stack is running');
    return { host: '127.0.0.1', port: Number(new URL(which === 'oss' ? current.stack.oss : current.stack.gateway).port) };
  };

  try {
    // What GitHub's archive link would serve for this repository, for curl.
    const zip = join(scratch, 'link.zip');
    await git(['-C', gitDir, 'archive', '--format=zip', '--prefix=link/', '-o', zip, 'HEAD']);
    const zipSha = await sha256File(zip);
    // The same zip as a release asset on the local upstream: what `ferry get --file` and curl fetch.
    const files = await startFileUpstream();
    const assetPath = '/large/link/releases/download/v1/link.zip';
    files.serve(assetPath, { body: await readFile(zip) });
    const githubGit = await startLinkProxy({ ...GITHUB_FROM_CHINA, target: { host: '127.0.0.1', port: Number(new URL(server.url).port) } });
    const githubFiles = await startLinkProxy({ ...GITHUB_FROM_CHINA, target: { host: '127.0.0.1', port: Number(new URL(files.origin).port) } });
    // The client's side of Hong Kong: the store and the gateway, each behind the OSS profile; the targets are read per connection (a fresh stack per run).
    const store = await startLinkProxy({ ...OSS_HONG_KONG, target: () => stackPort('oss'), onConnection: () => (storeConnectedAt ??= now()) });
    const gateway = await startLinkProxy({ ...OSS_HONG_KONG, target: () => stackPort('gateway') });
    proxies.push(githubGit, githubFiles, store, gateway);

    // The GitHub side is bound by its 300 KB/s, not by CPU: it runs alongside the ferry runs to save ~3 minutes a run.
    log(`link: git clone and curl over the GitHub profile in the background (${options.githubRuns} run(s), ~3 min each)`);
    const github = githubSide(options, { cloneUrl: `http://127.0.0.1:${githubGit.port}/large/link`, head, fileUrl: `http://127.0.0.1:${githubFiles.port}${assetPath}`, zipSha, scratch });

    const stackOptions: StackOptions = {
      repoUrl,
      warmUrl: `${server.url}/bench/warm`,
      gitHost: server.host,
      format: 'zip',
      // The signed URLs name the proxy: every download crosses the link.
      extraEnv: { ...options.extraEnv, FERRY_OSS_PUBLIC_ENDPOINT: `http://localhost:${store.port}`, FERRY_FILE_HOSTS: files.host, FERRY_ALLOWED_DESTINATIONS: files.host },
    };
    const gets: GetRun[] = [];
    const sweep: SweepRun[] = [];
    let artifact: SignedArtifact | undefined;
    for (let i = 0; i < options.runs; i++) {
      const s = await startStack(stackOptions);
      current = s;
      try {
        await warmUpStack(s, stackOptions);
        const get = async (kind: GetRun['kind'], cold: boolean): Promise<void> => {
          const url = kind === 'archive' ? repoUrl : files.url(assetPath);
          storeConnectedAt = undefined;
          const run = await timedGet(s, `ws://127.0.0.1:${gateway.port}`, url, kind, join(s.dir, `${kind}-${cold}.zip`), store);
          gets.push({ ...run, kind, cold, firstStoreConnectionMs: (storeConnectedAt ?? NaN) - run.startedAt });
        };
        // Archive and file alternate which goes first from run to run, as the other sections do.
        const kinds: GetRun['kind'][] = i % 2 === 0 ? ['archive', 'file'] : ['file', 'archive'];
        for (const kind of kinds) {
          if (kind === 'file' && fileSkip) continue;
          try {
            await get(kind, true);
            await get(kind, false);
          } catch (error) {
            if (kind === 'archive') throw error;
            fileSkip = `ferry get --file failed: ${(error as Error).message.slice(0, 300)}`;
          }
        }
        const last = (kind: GetRun['kind'], cold: boolean): string => seconds(gets.findLast((r) => r.kind === kind && r.cold === cold)?.ms ?? NaN);
        log(
          `link run ${i + 1}/${options.runs}: ferry get archive cold ${last('archive', true)}, hit ${last('archive', false)}; file cold ${last('file', true)}, hit ${last('file', false)} ` +
            `(${decimalMegabytes(gets.at(-1)?.size ?? NaN)}, ${gets.at(-1)?.storeConnections} connection(s) to the store)`,
        );
        if (i === options.runs - 1) {
          artifact = await signedArtifact(s, stackOptions);
          for (const connections of options.connections) {
            // One failing point (a client still being built) must not cost the rest of the section.
            const run = await timedDownload(artifact, connections, join(s.dir, `sweep-${connections}.zip`), store).catch(
              (error: Error): SweepRun => ({ connections, ms: Number.NaN, opened: 0, error: error.message.slice(0, 300) }),
            );
            sweep.push(run);
            log(`link: download() with connections=${connections}: ${run.error ? `failed: ${run.error}` : `${seconds(run.ms)}, the proxy saw ${run.opened} connection(s)`}`);
          }
        }
      } catch (error) {
        throw new Error(`${(error as Error).message}\nstack log:\n${s.log.slice(-15).join('\n')}`, { cause: error });
      } finally {
        current = undefined;
        await s.close();
      }
    }
    log('link: waiting for the GitHub side …');
    const native = await github;
    await files.close();
    return { rows: rowsFor(gets, sweep, native), results: { profiles: { GITHUB_FROM_CHINA, OSS_HONG_KONG }, unavoidableRoundTrips: UNAVOIDABLE_ROUND_TRIPS, gets, sweep, native, fileSkip } };
  } finally {
    for (const proxy of proxies) await proxy.close();
    await server.close();
    await rm(scratch, { recursive: true, force: true });
  }

  function rowsFor(gets: GetRun[], sweep: SweepRun[], native: GithubSide): Row[] {
    const runsOf = (kind: GetRun['kind'], cold: boolean): GetRun[] => gets.filter((r) => r.kind === kind && r.cold === cold);
    const getRow = (kind: GetRun['kind'], cold: boolean, what: string): Row => {
      const runs = runsOf(kind, cold);
      const metric = `ferry get ${kind}, OSS HK link, ${cold ? 'cold' : 'cache hit'}`;
      if (runs.length === 0) return { metric, ferry: 'skipped', baseline: '-', ratio: '-', target: 'ratio <= 1.2', result: 'info', note: `SKIPPED: ${fileSkip ?? 'no run'}` };
      const ms = median(runs.map((r) => r.ms));
      const runSize = median(runs.map((r) => r.size));
      const limit = physicalLimitMs(OSS_HONG_KONG, runSize);
      return {
        metric,
        ferry: seconds(ms),
        baseline: seconds(limit),
        ratio: ratio(ms / limit),
        target: 'ratio <= 1.2',
        result: verdict(ms / limit <= 1.2),
        note:
          `median of ${runs.length}; ${what}; ferry get spawn to exit (sha256 checked): first connection to the store after ${millis(median(runs.map((r) => r.firstStoreConnectionMs)))}, ` +
          `then ${median(runs.map((r) => r.storeConnections))} connection(s) to the store; ` +
          `baseline: the physical limit of the OSS profile, ${decimalMegabytes(runSize)} at ${(OSS_HONG_KONG.totalBytesPerSec ?? 0) / 1e6} MB/s + ${UNAVOIDABLE_ROUND_TRIPS} round trips of ${OSS_HONG_KONG.rttMs} ms`,
      };
    };
    const githubRow = (kind: GetRun['kind'], metric: string, ms: number[], what: string): Row => {
      const coldMs = median(runsOf(kind, true).map((r) => r.ms));
      const hitMs = median(runsOf(kind, false).map((r) => r.ms));
      return {
        metric,
        ferry: seconds(coldMs),
        baseline: ms.length > 0 ? seconds(median(ms)) : 'failed',
        ratio: ratio(coldMs / median(ms)),
        target: '-',
        result: 'info',
        note:
          `ferry: ${kind} cold over the OSS profile (cache hit ${seconds(hitMs)}, ratio ${ratio(hitMs / median(ms))}); baseline: ${what}, median of ${ms.length}` +
          (native.problems.length > 0 ? `; problems: ${native.problems.join(' | ')}` : ''),
      };
    };
    // The sweep downloads the archive.
    const size = median(runsOf('archive', false).map((r) => r.size));
    const github = `the GitHub profile (${GITHUB_FROM_CHINA.rttMs} ms, ${GITHUB_FROM_CHINA.perConnectionBytesPerSec / 1e3} KB/s per connection)`;
    return [
      getRow('archive', false, 'the zip already in the store'),
      getRow('archive', true, 'a fresh stack: the worker clones and archives on the fast side first'),
      getRow('file', false, "the release asset already in the store (the worker revalidates it upstream: it is not immutable on an unknown host)"),
      getRow('file', true, 'the worker streams it from the upstream into the store first'),
      githubRow('archive', 'archive vs git clone, GitHub-from-China link', native.clones, `git clone of the same repository through ${github}`),
      githubRow('file', 'file vs curl, GitHub-from-China link', native.curls, `curl -o of the same zip (${decimalMegabytes(native.zipBytes)}) through ${github}, sha256 checked`),
      ...sweep.map((run): Row => {
        const rate = Math.min(run.connections * OSS_HONG_KONG.perConnectionBytesPerSec, OSS_HONG_KONG.totalBytesPerSec ?? Infinity);
        const floor = physicalLimitMs(OSS_HONG_KONG, size, 2, rate);
        return {
          metric: `download(), connections=${run.connections}, OSS HK link`,
          ferry: seconds(run.ms),
          baseline: seconds(floor),
          ratio: ratio(run.ms / floor),
          target: '-',
          result: 'info',
          note:
            (run.error ? `FAILED: ${run.error}; ` : '') +
            `one run; the client's download() alone (signed URL in hand), in a process of its own, sha256 checked; the proxy saw ${run.opened} connection(s); baseline: ${decimalMegabytes(size)} at ${rate / 1e6} MB/s + 2 round trips (connect, first byte)`,
        };
      }),
    ];
  }
}

/** `ferry get` through the gateway proxy, spawn to exit; the store connections it opened, from the proxy. */
async function timedGet(
  s: Stack,
  gatewayUrl: string,
  url: string,
  kind: GetRun['kind'],
  output: string,
  store: LinkProxy,
): Promise<Pick<GetRun, 'ms' | 'size' | 'storeConnections'> & { startedAt: number }> {
  const before = store.stats.connections;
  const args = ['get', url, ...(kind === 'file' ? ['--file'] : []), '--gateway', gatewayUrl, '--app-key', s.stack.appKey, '--app-secret', s.stack.appSecret, '--output', output, '--json'];
  const start = now();
  const { code, stdout, stderr, events } = await runFerry(args, { timeoutMs: 300_000 });
  const ms = now() - start;
  const saved = events.find((event) => event.type === 'saved');
  if (code !== 0 || !saved) throw new Error(`ferry get: ${code !== 0 ? `exit ${code}` : 'no saved line'}; stderr: ${stderr.trim().slice(-300) || '-'}; stdout: ${stdout.trim().slice(-300) || '-'}`);
  await rm(output, { force: true });
  return { ms, size: Number(saved.size), storeConnections: store.stats.connections - before, startedAt: start };
}

/** The artifact's signed URL (through the store proxy), size and sha256, from a cache-hit job on the direct gateway. */
async function signedArtifact(s: Stack, options: StackOptions): Promise<SignedArtifact> {
  const client = await GatewayClient.connect(s.stack.gateway, 'bench-link-sweep', { appKey: s.stack.appKey, appSecret: s.stack.appSecret });
  try {
    const { message } = await submit(client, options, 'bench-link-sweep', 60_000);
    if (message.type !== 'done' || !message.url || !message.sha256 || message.size === undefined) throw new Error(`the sweep's job failed: ${message.code} ${message.message}`);
    return { url: message.url, size: message.size, sha256: message.sha256 };
  } finally {
    client.close();
  }
}

/** The link's rates are decimal (MB = 10^6 bytes), so are the sizes next to them. */
const decimalMegabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
