// Issue "core": one cold job on the real worker process (./bootstrap, in-process queue), from
// POST /jobs to the job's end, with the worker's peak RSS and CPU time read from /proc.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOssServer } from '../../src/local/oss/index.js';
import { startWorkerProcess } from '../helpers/worker-process.js';
import { cpuDelta, cpuTimes, now, peakRss, sleep } from './measure.js';
import { ossEnv } from '../helpers/oss-env.js';

export interface WorkerJobOptions {
  repoUrl: string;
  gitHost: string;
  format: string;
  pollMs: number;
  /** FERRY_* overrides from the bench's environment (part size, parallelism…). */
  extraEnv: Record<string, string>;
}

export interface WorkerJobRun {
  ms: number;
  /** POST /jobs answered (ls-remote, cache lookup, state write). */
  acceptedMs: number;
  /** When a poll first saw `done`, if one did before the worker's log line. */
  pollDoneMs: number | undefined;
  /** When polling first saw each phase, ms after the POST. */
  phases: Record<string, number>;
  peakRssBytes: number | undefined;
  /** Worker node process (self) and its git children, user + system, during the job. */
  cpuSelfMs: number | undefined;
  cpuChildrenMs: number | undefined;
  size: number;
  polls: number;
}

const credentials = { accessKeyId: 'LTAIbench', accessKeySecret: 'bench-secret' };

export async function runWorkerJob(options: WorkerJobOptions): Promise<WorkerJobRun> {
  // Cold cache: a fresh object store and a fresh work dir (no mirror, no archive) every run.
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-worker-'));
  const oss = await startOssServer({ dataDir: join(dir, 'oss'), port: 0, credentials: [credentials], buckets: ['ferry'], region: 'oss-cn-hongkong' });
  const worker = await startWorkerProcess({
    ...ossEnv(oss, credentials),
    FERRY_WORK_DIR: join(dir, 'work'),
    FERRY_ALLOWED_HOSTS: options.gitHost,
    FERRY_ALLOW_HTTP: '1',
    ...options.extraEnv,
  });
  try {
    const pid = worker.child.pid as number;
    const health = await fetch(`${worker.url}/healthz`);
    if (!health.ok) throw new Error(`worker /healthz answered ${health.status}`);
    const cpuBefore = cpuTimes(pid);

    // The end is the worker's own `job <id> done` line, printed once the final state is stored: it
    // costs the worker nothing. Polls (every pollMs) only record when each phase was first seen,
    // because every GET /jobs/:id of a running job costs the worker an OSS read (JobStateStore.load).
    let jobId: string | undefined;
    let loggedAt: number | undefined;
    let logged!: () => void;
    const finished = new Promise<void>((resolve) => (logged = resolve));
    let tail = '';
    worker.child.stdout?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-4096);
      // BENCH_TRACE=1 shows the worker's own per-phase timings (its `job … done` log line).
      if (process.env.BENCH_TRACE) for (const line of chunk.toString('utf8').split('\n')) if (line.startsWith('job ')) console.error(`[worker] ${line}`);
      if (jobId !== undefined && loggedAt === undefined && new RegExp(`^job ${jobId} (done|error)`, 'm').test(tail)) {
        loggedAt = now();
        logged();
      }
    });

    const start = now();
    const response = await fetch(`${worker.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: options.repoUrl, format: options.format }),
    });
    const accepted = now();
    const created = (await response.json()) as { jobId?: string; status?: string };
    if (response.status !== 202 || !created.jobId) throw new Error(`POST /jobs answered ${response.status}: ${JSON.stringify(created)}`);
    jobId = created.jobId;
    if (new RegExp(`^job ${jobId} (done|error)`, 'm').test(tail)) {
      loggedAt = now();
      logged();
    }

    const phases: Record<string, number> = {};
    let polls = 0;
    let pollDoneMs: number | undefined;
    let status = '';
    let detail = '';
    let size = 0;
    const timeout = setTimeout(() => logged(), 120_000);
    const polling = (async () => {
      while (loggedAt === undefined && pollDoneMs === undefined) {
        await Promise.race([sleep(options.pollMs), finished]);
        if (loggedAt !== undefined) break;
        polls++;
        const state = (await (await fetch(`${worker.url}/jobs/${jobId}`)).json()) as { status: string; phase?: string; size?: number; code?: string; message?: string };
        const at = now() - start;
        if (state.phase && phases[state.phase] === undefined) phases[state.phase] = at;
        if (state.status === 'done' || state.status === 'error') pollDoneMs = at;
      }
    })();
    await finished;
    clearTimeout(timeout);
    const end = loggedAt;
    const cpu = cpuDelta(cpuBefore, cpuTimes(pid));
    const rss = peakRss(pid);
    await polling;
    const final = (await (await fetch(`${worker.url}/jobs/${jobId}`)).json()) as { status: string; size?: number; code?: string; message?: string };
    status = final.status;
    detail = `${final.code ?? ''} ${final.message ?? ''}`;
    size = final.size ?? 0;
    if (end === undefined) throw new Error('job did not finish within 120 s');
    if (status !== 'done') throw new Error(`job failed: ${detail}`);
    return {
      ms: end - start,
      acceptedMs: accepted - start,
      pollDoneMs,
      phases,
      peakRssBytes: rss,
      cpuSelfMs: cpu?.selfMs,
      cpuChildrenMs: cpu?.childrenMs,
      size,
      polls,
    };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nworker output:\n${worker.output.slice(-20).join('\n')}`, { cause: error });
  } finally {
    await worker.close();
    await oss.close();
    await rm(dir, { recursive: true, force: true });
  }
}
