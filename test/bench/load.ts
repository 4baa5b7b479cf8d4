// `npm run bench:load`: N websocket clients (200) submit M jobs (1,000) over the 20 fixture repositories
// through the local stack, twice: undisturbed, then with the worker SIGKILLed once mid-run. Prints a table
// and writes test/artifacts/bench-load.json. Targets are reported, never an exit code. Knobs: docs/reliability.md#load.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { loadRoot } from '../helpers/fixtures.js';
import { startGitServer } from '../helpers/git-server.js';
import { ROOT } from '../helpers/worker-process.js';
import type { JobRecord } from './load-clients.js';
import { runLoad, type LoadResult } from './load-run.js';
import { now, percentile } from './measure.js';
import { finishRun, megabytes, millis, seconds, verdict, type Row } from './report.js';

const config = {
  clients: envInt('LOAD_CLIENTS', 200),
  jobs: envInt('LOAD_JOBS', 1000),
  repos: Math.min(envInt('LOAD_REPOS', 20), 20),
  seed: envInt('LOAD_SEED', 14),
  jobTimeoutMs: envInt('LOAD_JOB_TIMEOUT_S', 300) * 1000,
  runs: (process.env.LOAD_RUNS ?? 'steady,kill').split(',').map((s) => s.trim()),
};

const started = now();
const log = (line: string): void => console.error(`[bench:load ${seconds(now() - started).padStart(8)}] ${line}`);
const loadBefore = loadavg();
if ((loadBefore[0] ?? 0) > 0.5) log(`warning: load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before the run: other work on this machine skews the figures`);

log('building the 20 fixture repositories (once) …');
const root = await loadRoot();
const git = await startGitServer({ root });
const repos = Array.from({ length: config.repos }, (_, i) => {
  const name = `repo-${String(i + 1).padStart(2, '0')}`;
  return { url: `${git.url}/load/${name}`, dir: join(root, 'load', `${name}.git`) };
});
const keys = repos.length * 2;

const rows: Row[] = [];
const results: Record<string, unknown> = {};
try {
  for (const run of config.runs) {
    const result = await runLoad({
      name: run,
      clients: config.clients,
      jobs: config.jobs,
      repos,
      gitHost: git.host,
      seed: config.seed,
      killAfterBuilds: run === 'kill' ? Math.ceil(keys / 2) : undefined,
      jobTimeoutMs: config.jobTimeoutMs,
      log,
    });
    rows.push(...report(result));
    results[run] = serialise(result);
  }
} finally {
  await git.close();
}

await finishRun({ file: join(ROOT, 'test/artifacts/bench-load.json'), rows, config, results, loadBefore, elapsedMs: now() - started, log });

/** Submit → final push, by how the job was answered. */
function latencies(records: JobRecord[]): Record<'atSubmit' | 'waited' | 'built', number[]> {
  const done = records.filter((r) => r.status === 'done' && r.finishedAt !== undefined);
  const ms = (r: JobRecord): number => (r.finishedAt as number) - r.submittedAt;
  return {
    atSubmit: done.filter((r) => r.answeredAtSubmit).map(ms),
    waited: done.filter((r) => !r.answeredAtSubmit && r.cached === true).map(ms),
    built: done.filter((r) => r.cached === false).map(ms),
  };
}

/** For jobs that waited for a build: how long after that build's own final push their answer came. */
function afterBuild(records: JobRecord[]): number[] {
  const builtAt = new Map<string, number>();
  for (const r of records) if (r.cached === false && r.finishedAt !== undefined) builtAt.set(r.key, Math.min(builtAt.get(r.key) ?? Infinity, r.finishedAt));
  return records
    .filter((r) => r.status === 'done' && !r.answeredAtSubmit && r.cached === true && r.finishedAt !== undefined && builtAt.has(r.key))
    .map((r) => Math.max(0, (r.finishedAt as number) - (builtAt.get(r.key) as number)));
}

function report(result: LoadResult): Row[] {
  const { records } = result;
  const row = (metric: string, value: string, target = '', ok?: boolean, note?: string): Row => ({
    metric: `${result.name}: ${metric}`,
    ferry: value,
    baseline: '',
    ratio: '',
    target,
    result: ok === undefined ? 'info' : verdict(ok),
    ...(note && { note }),
  });
  const lat = latencies(records);
  const pcts = (values: number[]): string => (values.length === 0 ? 'n/a' : `${millis(percentile(values, 50))} / ${millis(percentile(values, 95))} / ${millis(percentile(values, 99))} (n=${values.length})`);
  const count = (status: JobRecord['status']): number => records.filter((r) => r.status === status).length;
  const failed = count('error') + count('refused');
  const leaks = result.leftovers.tempFiles.length + result.leftovers.leases.length + result.leftovers.uploads.length;
  const rebuilt = [...result.builds.values()].filter((n) => n > 1).length;
  const m = result.messages;
  const rows = [
    row('jobs', `${records.length} in ${seconds(result.wallMs)}: ${(records.length / (result.wallMs / 1000)).toFixed(1)} jobs/s`, '', undefined, `${config.clients} clients, ${repos.length} repositories x zip/tar.gz${result.killedAt === undefined ? '' : `; worker SIGKILLed at ${seconds(result.killedAt)}`}`),
    row('p50/p95/p99 cached at submit', pcts(lat.atSubmit), 'p99 <= 1 s', lat.atSubmit.length > 0 && percentile(lat.atSubmit, 99) <= 1000, 'POST /jobs answered 200: the artifact existed when the job was submitted'),
    row('p50/p95/p99 waited for a build', pcts(lat.waited), '', undefined, 'queued while its artifact was being built, answered from it (cached: true)'),
    row('p99 after its build', afterBuild(records).length === 0 ? 'n/a' : millis(percentile(afterBuild(records), 99)), '', undefined, 'a waiting job\'s final push after the build\'s own'),
    row('p50/p95/p99 built', pcts(lat.built), '', undefined, 'the job that built its artifact (cached: false)'),
    row('lost', String(count('lost')), '0', count('lost') === 0, 'accepted, yet no final push and no final state by GET /jobs/:id'),
    row('failed', String(failed), '0', failed === 0, records.filter((r) => r.status === 'error' || r.status === 'refused').slice(0, 3).map((r) => `${r.code}: ${r.message ?? ''}`.slice(0, 120)).join('; ') || undefined),
    row('found by polling', String(records.filter((r) => r.foundByPoll).length), '', undefined, 'no final push; GET /jobs/:id had it'),
    row('resubmitted', String(records.reduce((n, r) => n + r.resubmits, 0)), '', undefined, 'POST /jobs answered 5xx (the worker restarting) and was sent again'),
    row('builds', `${[...result.builds.values()].reduce((a, b) => a + b, 0)} for ${result.builds.size} keys`, '', undefined, rebuilt > 0 ? `${rebuilt} keys reported built by more than one job` : 'one build per key'),
    row('messages delivered / sent', `${m.delivered} / ${m.sentAccepted}`, '', undefined, `NF# frames the clients received / NOTIFY calls the gateway accepted; finals ${m.finalsDelivered} / ${m.finalsSent}; NOTIFY refused ${m.sentRefused}, unreachable ${m.sentFailed}`),
    row('downloads checked', `${result.downloads.checked}, ${result.downloads.mismatched.length} mismatched`, '0 mismatched', result.downloads.mismatched.length === 0, result.downloads.mismatched.slice(0, 3).join('; ') || 'sha256 of the bytes = the done message\'s = git archive of the fixture'),
    row('peak RSS worker / its tree / stack', `${megabytes(result.rss.worker)} / ${megabytes(result.rss.workerTree)} / ${megabytes(result.rss.stack)}`, '', undefined, 'VmHWM of the worker node process; sampled sum with its git children; VmHWM of the stack process (gateway, FC emulator, OSS store)'),
    row('leaks', `${result.leftovers.tempFiles.length} temp, ${result.leftovers.leases.length} leases, ${result.leftovers.uploads.length} uploads`, '0', leaks === 0, [...result.leftovers.tempFiles, ...result.leftovers.leases, ...result.leftovers.uploads].slice(0, 4).join('; ') || undefined),
  ];
  return rows;
}

function serialise(result: LoadResult): Record<string, unknown> {
  const lat = latencies(result.records);
  const stats = (values: number[]) => ({ n: values.length, p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) });
  return {
    wallMs: result.wallMs,
    killedAtMs: result.killedAt,
    latencyMs: { atSubmit: stats(lat.atSubmit), waited: stats(lat.waited), afterBuild: stats(afterBuild(result.records)), built: stats(lat.built) },
    statuses: Object.fromEntries(['done', 'error', 'lost', 'refused'].map((s) => [s, result.records.filter((r) => r.status === s).length])),
    errors: result.records.filter((r) => r.status !== 'done').map((r) => ({ key: r.key, jobId: r.jobId, status: r.status, code: r.code, message: r.message })),
    messages: result.messages,
    rssBytes: result.rss,
    downloads: result.downloads,
    builds: Object.fromEntries(result.builds),
    leftovers: result.leftovers,
  };
}

function envInt(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
  return value;
}
