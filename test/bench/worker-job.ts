// Issue "core": one cold job on the real worker process (./bootstrap, in-process queue), from
// POST /jobs to the job's end, with the worker's peak RSS and CPU time read from /proc.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOssServer } from '../../src/local/oss/index.js';
import { startWorkerProcess } from '../helpers/worker-process.js';
import { cpuDelta, cpuTimes, now, peakRss } from './measure.js';
import { ossEnv } from '../helpers/oss-env.js';

export interface WorkerJobOptions {
  repoUrl: string;
  gitHost: string;
  format: string;
  /** FERRY_* overrides from the bench's environment (part size, parallelism…). */
  extraEnv: Record<string, string>;
  /** The POST /jobs body when it is not an archive of `repoUrl` in `format` (a file job). */
  job?: Record<string, unknown>;
}

export interface WorkerJobRun {
  ms: number;
  /** POST /jobs answered (ls-remote, cache lookup, state write). */
  acceptedMs: number;
  /** How long each phase took, from the worker's own `job … done` log line (`fetching=512ms …`). */
  phases: Record<string, number>;
  peakRssBytes: number | undefined;
  /** The same peak just before POST /jobs (start-up and /initialize): what the job itself added is the difference. */
  peakRssBeforeJobBytes: number | undefined;
  /** Worker node process (self) and its git children, user + system, during the job. */
  cpuSelfMs: number | undefined;
  cpuChildrenMs: number | undefined;
  size: number;
  sha256: string | undefined;
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
    FERRY_ALLOWED_DESTINATIONS: options.gitHost,
    FERRY_ALLOW_HTTP: '1',
    ...options.extraEnv,
  });
  try {
    const pid = worker.child.pid as number;
    const health = await fetch(`${worker.url}/healthz`);
    if (!health.ok) throw new Error(`worker /healthz answered ${health.status}`);
    // FC calls the initializer once before an instance's first invocation; so does the bench.
    const initialized = await fetch(`${worker.url}/initialize`, { method: 'POST' });
    if (!initialized.ok) throw new Error(`worker /initialize answered ${initialized.status}`);
    const cpuBefore = cpuTimes(pid);
    const rssBefore = peakRss(pid);

    // The end is the worker's own `job <id> done` line, printed once the final state is stored, and the
    // same line carries the worker's phase timings. Nothing polls during the job: the native baseline
    // has no observer either, and every poll would cost the worker (and the OSS store) CPU.
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
      body: JSON.stringify(options.job ?? { url: options.repoUrl, format: options.format }),
    });
    const accepted = now();
    const created = (await response.json()) as { jobId?: string; status?: string };
    if (response.status !== 202 || !created.jobId) throw new Error(`POST /jobs answered ${response.status}: ${JSON.stringify(created)}`);
    jobId = created.jobId;
    if (new RegExp(`^job ${jobId} (done|error)`, 'm').test(tail)) {
      loggedAt = now();
      logged();
    }

    const timeout = setTimeout(() => logged(), 120_000);
    await finished;
    clearTimeout(timeout);
    const end = loggedAt;
    const cpu = cpuDelta(cpuBefore, cpuTimes(pid));
    const rss = peakRss(pid);
    const final = (await (await fetch(`${worker.url}/jobs/${jobId}`)).json()) as { status: string; size?: number; sha256?: string; code?: string; message?: string };
    if (end === undefined) throw new Error('job did not finish within 120 s');
    if (final.status !== 'done') throw new Error(`job failed: ${final.code ?? ''} ${final.message ?? ''}`);
    const line = tail.split('\n').find((l) => l.startsWith(`job ${jobId} done`)) ?? '';
    const phases = Object.fromEntries([...line.matchAll(/(\w+)=(\d+)ms/g)].map((m) => [m[1] as string, Number(m[2])]));
    return {
      ms: end - start,
      acceptedMs: accepted - start,
      phases,
      peakRssBytes: rss,
      peakRssBeforeJobBytes: rssBefore,
      cpuSelfMs: cpu?.selfMs,
      cpuChildrenMs: cpu?.childrenMs,
      size: final.size ?? 0,
      sha256: final.sha256,
    };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nworker output:\n${worker.output.slice(-20).join('\n')}`, { cause: error });
  } finally {
    await worker.close();
    await oss.close();
    await rm(dir, { recursive: true, force: true });
  }
}
