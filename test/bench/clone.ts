// Issue 10, "Speed": `git clone ferry::<url>` (git-remote-ferry against a local stack) next to a native
// `git clone <url>` of the same URL, for a repository with a long history (make-history-repo.sh):
// warm (the bundle already in the store), cold (a fresh stack), `git pull` after upstream moved on,
// and the worker's peak memory while it builds the bundle.
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { benchRoot, gitEnv } from '../helpers/fixtures.js';
import { startGitServer } from '../helpers/git-server.js';
import { advanceUpstream, describeCheckout, describeUpstream, historyRoot, remoteHelperDir, timedGit, type Checkout } from './clone-git.js';
import { runBundleJob, type BundleJobRun } from './clone-worker.js';
import { median, now } from './measure.js';
import { megabytes, millis, ratioRow, seconds, verdict, type Row } from './report.js';
import { startStack, type Stack, type StackOptions } from './stack-e2e.js';

export interface CloneBenchOptions {
  runs: number;
  /** Commits upstream gains before each timed pull. */
  pullCommits: number;
  /** FERRY_* overrides for the worker. */
  extraEnv: Record<string, string>;
  log: (line: string) => void;
}

export interface CloneBenchResult {
  rows: Row[];
  results: Record<string, unknown>;
}

interface ColdRun {
  ms: number;
  /** The worker's phases for the bundle job, from its `job … done` line. */
  phases: Record<string, number>;
}

/** The worker's refs cache (GET /refs) lives ~5 s: a pull sooner after a clone may not see upstream's new commits. */
const REFS_CACHE_MS = 6_000;

export async function runCloneBench(options: CloneBenchOptions): Promise<CloneBenchResult> {
  const { log, runs } = options;
  log('clone: building the long-history repository (once) …');
  const root = await historyRoot(log);
  // bench/warm.git: the small repository each fresh stack serves once before the measured clone.
  await benchRoot();
  const server = await startGitServer({ root });
  const url = `${server.url}/history/long`;
  const warmUrl = `${server.url}/bench/warm`;
  const stackOptions: StackOptions = { repoUrl: url, warmUrl, gitHost: server.host, format: 'zip', extraEnv: options.extraEnv };
  const scratch = await mkdtemp(join(tmpdir(), 'ferry-bench-clone-'));
  const helperDir = await remoteHelperDir();
  let skip: string | undefined = helperDir ? undefined : 'bin/git-remote-ferry.js is not in this checkout yet';
  const native: number[] = [];
  const cold: ColdRun[] = [];
  const warm: number[] = [];
  // The same warm clone with the worker's pack index trusted (ferry.trustIndex): no index-pack on the client.
  const warmTrusted: number[] = [];
  const bundles: BundleJobRun[] = [];
  // The bare-worker job needs no remote helper, only the worker's bundle kind.
  let bundleSkip: string | undefined;
  let dir = 0;
  const fresh = async (): Promise<string> => {
    const path = join(scratch, `clone-${++dir}`);
    await mkdir(join(path, 'home'), { recursive: true });
    return path;
  };
  // A fresh HOME per clone: nothing a client might cache between runs survives.
  const nativeEnv = (home: string): NodeJS.ProcessEnv => gitEnv({ HOME: home });
  const ferryEnv = (home: string, s: Stack): NodeJS.ProcessEnv =>
    gitEnv({ HOME: home, PATH: `${helperDir}:${process.env.PATH ?? ''}`, FERRY_GATEWAY: s.stack.gateway, FERRY_APP_KEY: s.stack.appKey, FERRY_APP_SECRET: s.stack.appSecret });

  try {
    const upstream = await describeUpstream(join(root, 'history/long.git'));
    log(`clone: warm-up, one native clone of ${url} so the git server's page cache is warm for everyone`);
    await nativeClone(url, await fresh(), upstream);

    for (let i = 0; i < runs; i++) {
      const steps: (() => Promise<unknown>)[] = [
        async () => native.push(await nativeClone(url, await fresh(), upstream)),
        async () => {
          if (skip) return;
          let s: Stack;
          try {
            s = await startStack(stackOptions);
          } catch (error) {
            skip = `the local stack did not start: ${oneLine((error as Error).message)}`;
            return;
          }
          try {
            const warmUp = await fresh();
            await timedGit(['clone', '--quiet', `ferry::${warmUrl}`, join(warmUp, 'repo')], ferryEnv(join(warmUp, 'home'), s));
            cold.push(await coldClone(s, url, await fresh(), upstream));
            // The bundle is in the store now: the next clone is the warm case.
            const target = await fresh();
            const ms = await timedGit(['clone', '--quiet', `ferry::${url}`, join(target, 'repo')], ferryEnv(join(target, 'home'), s));
            await expectCheckout(join(target, 'repo'), upstream, 'warm ferry clone');
            warm.push(ms);
            const trusted = await fresh();
            const trustedMs = await timedGit(['clone', '--quiet', `ferry::${url}`, join(trusted, 'repo')], { ...ferryEnv(join(trusted, 'home'), s), FERRY_TRUST_INDEX: '1' });
            await expectCheckout(join(trusted, 'repo'), upstream, 'warm ferry clone with a trusted index');
            warmTrusted.push(trustedMs);
          } catch (error) {
            skip = `the ferry clone failed: ${oneLine((error as Error).message)}; stack log: ${oneLine(s.log.slice(-8).join(' | '))}`;
          } finally {
            await s.close();
          }
        },
        async () => {
          if (bundleSkip) return;
          try {
            bundles.push(await runBundleJob({ repoUrl: url, gitHost: server.host, extraEnv: options.extraEnv }));
          } catch (error) {
            bundleSkip = `the bundle job failed: ${oneLine((error as Error).message)}`;
          }
        },
      ];
      if (i % 2 === 1) steps.reverse();
      for (const step of steps) await step();
      await rm(scratch, { recursive: true, force: true }).then(() => mkdir(scratch, { recursive: true }));
      log(`clone run ${i + 1}/${runs}: native ${seconds(native.at(-1) ?? NaN)}, ferry cold ${skip ? 'skipped' : seconds(cold.at(-1)?.ms ?? NaN)}, warm ${skip ? 'skipped' : seconds(warm.at(-1) ?? NaN)}, warm trusting the index ${skip ? 'skipped' : seconds(warmTrusted.at(-1) ?? NaN)}, ` +
          `bare-worker bundle job ${bundleSkip ? 'skipped' : `${seconds(bundles.at(-1)?.ms ?? NaN)} (worker ${megabytes(bundles.at(-1)?.peaks.root?.peakRssBytes)})`}`);
    }
    const pull = await pullRuns();
    return { rows: [...rowsFor(pull), rssRow()], results: { native, cold, warm, warmTrusted, pull, bundles, skipped: skip, bundleSkipped: bundleSkip } };
  } finally {
    await server.close();
    await rm(scratch, { recursive: true, force: true });
  }

  /** A clone through a stack that has never seen the repository. */
  async function coldClone(s: Stack, repoUrl: string, target: string, upstream: Checkout): Promise<ColdRun> {
    const ms = await timedGit(['clone', '--quiet', `ferry::${repoUrl}`, join(target, 'repo')], ferryEnv(join(target, 'home'), s));
    await expectCheckout(join(target, 'repo'), upstream, 'cold ferry clone');
    // This stack has run two jobs, the warm-up's and this one: the last `done` line is this job's.
    const done = [...s.log].reverse().find((l) => /job \S+ done/.test(l)) ?? '';
    const phases = Object.fromEntries([...done.matchAll(/(\w+)=(\d+)ms/g)].map((m) => [m[1] as string, Number(m[2])]));
    return { ms, phases };
  }

  /** Clones made before upstream moves on by `pullCommits`, then `git pull` in each, native and ferry. */
  async function pullRuns(): Promise<{ native: number[]; ferry: number[] }> {
    const result = { native: [] as number[], ferry: [] as number[] };
    // A copy of the fixture on a server of its own; hard links are safe, git replaces files, never edits them.
    const pullRoot = `${scratch}-pull`;
    const gitDir = join(pullRoot, 'pull/long.git');
    await cp(join(root, 'history/long.git'), gitDir, { recursive: true });
    const pullServer = await startGitServer({ root: pullRoot });
    const pullUrl = `${pullServer.url}/pull/long`;
    let s: Stack | undefined;
    try {
      if (!skip) {
        try {
          s = await startStack({ ...stackOptions, repoUrl: pullUrl, gitHost: pullServer.host });
        } catch (error) {
          skip = `the local stack did not start: ${oneLine((error as Error).message)}`;
        }
      }
      for (let i = 0; i < runs; i++) {
        const before = await describeUpstream(gitDir);
        const nativeDir = await fresh();
        await nativeClone(pullUrl, nativeDir, before);
        const ferryDir = await fresh();
        let clonedAt = now();
        if (s && !skip) {
          try {
            await timedGit(['clone', '--quiet', `ferry::${pullUrl}`, join(ferryDir, 'repo')], ferryEnv(join(ferryDir, 'home'), s));
            await expectCheckout(join(ferryDir, 'repo'), before, 'ferry clone before the pull');
          } catch (error) {
            skip = `the ferry clone before the pull failed: ${oneLine((error as Error).message)}`;
          }
          clonedAt = now();
        }
        await advanceUpstream(gitDir, options.pullCommits, i);
        const after = await describeUpstream(gitDir);
        const steps: (() => Promise<unknown>)[] = [
          async () => {
            const ms = await timedGit(['-C', join(nativeDir, 'repo'), 'pull', '--quiet', '--ff-only'], nativeEnv(join(nativeDir, 'home')));
            await expectCheckout(join(nativeDir, 'repo'), after, 'native pull');
            result.native.push(ms);
          },
          async () => {
            if (!s || skip) return;
            await delay(Math.max(0, REFS_CACHE_MS - (now() - clonedAt)));
            try {
              const ms = await timedGit(['-C', join(ferryDir, 'repo'), 'pull', '--quiet', '--ff-only'], ferryEnv(join(ferryDir, 'home'), s));
              await expectCheckout(join(ferryDir, 'repo'), after, 'ferry pull');
              result.ferry.push(ms);
            } catch (error) {
              skip = `the ferry pull failed: ${oneLine((error as Error).message)}`;
            }
          },
        ];
        if (i % 2 === 1) steps.reverse();
        for (const step of steps) await step();
        log(`pull run ${i + 1}/${runs} (${options.pullCommits} new commits): native ${seconds(result.native.at(-1) ?? NaN)}, ferry ${skip ? 'skipped' : seconds(result.ferry.at(-1) ?? NaN)}`);
      }
    } finally {
      await s?.close();
      await pullServer.close();
      await rm(pullRoot, { recursive: true, force: true });
    }
    return result;
  }

  function rowsFor(pull: { native: number[]; ferry: number[] }): Row[] {
    const nativeMs = median(native);
    if (skip) {
      const skipped = (metric: string, baseline: string, target: string): Row => ({ metric, ferry: 'skipped', baseline, ratio: '-', target, result: 'info', note: `SKIPPED: ${skip}` });
      return [
        skipped('git clone ferry::, warm', seconds(nativeMs), 'ratio <= 0.8'),
        skipped('git clone ferry::, warm, trustIndex', seconds(nativeMs), 'ratio <= 0.8'),
        skipped('git clone ferry::, cold', seconds(nativeMs), 'ratio <= 2.0'),
        skipped(`git pull, ${options.pullCommits} new commits`, seconds(median(pull.native)), '-'),
      ];
    }
    const phase = (name: string): number => median(cold.map((r) => r.phases[name] ?? NaN));
    const phaseNames = [...new Set(cold.flatMap((r) => Object.keys(r.phases)))];
    const pullFerry = median(pull.ferry);
    const pullNative = median(pull.native);
    return [
      ratioRow('git clone ferry::, warm', median(warm), nativeMs, 0.8, `median of ${warm.length}; the bundle already in the store, indexed by git on the client (the default); native: git clone of the same URL, median of ${native.length}`),
      ratioRow('git clone ferry::, warm, trustIndex', median(warmTrusted), nativeMs, 0.8, `median of ${warmTrusted.length}; the same, installing the worker's pack index instead (FERRY_TRUST_INDEX=1, ferry.trustIndex)`),
      ratioRow(
        'git clone ferry::, cold',
        median(cold.map((r) => r.ms)),
        nativeMs,
        2.0,
        `median of ${cold.length}; a fresh stack each run (one small clone served first, untimed); the worker's phases (medians): ` +
          (phaseNames.map((name) => `${name} ${millis(phase(name))}`).join(', ') || 'not in its log'),
      ),
      {
        metric: `git pull, ${options.pullCommits} new commits`,
        ferry: seconds(pullFerry),
        baseline: seconds(pullNative),
        ratio: (pullFerry / pullNative).toFixed(2),
        target: '-',
        result: 'info',
        note: `median of ${pull.ferry.length}; a clone of a copy of the fixture, then ${options.pullCommits} commits upstream, then git pull --ff-only (ferry: at least ${REFS_CACHE_MS / 1000} s after its clone, past the worker's refs cache)`,
      },
    ];
  }

  /** The worker's memory while it builds the bundle, on a bare worker process; git's processes apart. */
  function rssRow(): Row {
    const metric = 'worker peak RSS, bundle build';
    if (bundleSkip || bundles.length === 0) {
      return { metric, ferry: 'skipped', baseline: '-', ratio: '-', target: '<= 150 MB', result: 'info', note: `SKIPPED: ${bundleSkip ?? 'no run'}` };
    }
    const workerPeak = Math.max(...bundles.map((r) => r.peaks.root?.peakRssBytes ?? NaN));
    // The largest peak of each kind of git process (pack-objects, index-pack, …) over all runs.
    const byCommand = new Map<string, number>();
    for (const p of bundles.flatMap((r) => r.peaks.children)) {
      const name = p.command || p.name;
      byCommand.set(name, Math.max(byCommand.get(name) ?? 0, p.peakRssBytes));
    }
    const gitPeaks = [...byCommand].sort((a, b) => b[1] - a[1]).slice(0, 4);
    const together = Math.max(...bundles.map((r) => r.peaks.childrenTogetherBytes));
    const phaseNames = [...new Set(bundles.flatMap((r) => Object.keys(r.phases)))];
    return {
      metric,
      ferry: megabytes(workerPeak),
      baseline: '-',
      ratio: '-',
      target: '<= 150 MB',
      result: verdict(workerPeak <= 150 * 1024 ** 2),
      note:
        `highest VmHWM of the worker's node process over ${bundles.length} cold bundle jobs on a bare worker (fresh store and work dir; ` +
        `job ${seconds(median(bundles.map((r) => r.ms)))}, ${megabytes(median(bundles.map((r) => r.size)))} of bundle; phases ` +
        `${phaseNames.map((name) => `${name} ${millis(median(bundles.map((r) => r.phases[name] ?? NaN)))}`).join(', ')}). ` +
        `Its git processes, not included: ${gitPeaks.map(([name, bytes]) => `${name} ${megabytes(bytes)}`).join(', ') || 'none seen'}; ` +
        `all alive at once at most ${megabytes(together)} (sampled every 100 ms)`,
    };
  }
}

async function nativeClone(url: string, dir: string, upstream: Checkout): Promise<number> {
  const ms = await timedGit(['clone', '--quiet', url, join(dir, 'repo')], gitEnv({ HOME: join(dir, 'home') }));
  await expectCheckout(join(dir, 'repo'), upstream, 'native clone');
  return ms;
}

/** A clone that is fast but wrong must not count: HEAD, branches and tags must be upstream's. */
async function expectCheckout(dir: string, upstream: Checkout, what: string): Promise<void> {
  const got = await describeCheckout(dir);
  if (got.head !== upstream.head || got.remoteBranches !== upstream.remoteBranches || got.tags !== upstream.tags) {
    throw new Error(`${what}: expected HEAD ${upstream.head}, ${upstream.remoteBranches} branches, ${upstream.tags} tags; got ${got.head}, ${got.remoteBranches}, ${got.tags}`);
  }
}

function oneLine(text: string): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
