// Issue "core": one cold job on the real worker process (./bootstrap, in-process queue), from
// POST /jobs to `status: done`, with the worker's peak RSS and CPU time read from /proc.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOssServer } from '../../src/local/oss/index.js';
import { startWorkerProcess } from '../helpers/worker-process.js';
import { cpuDelta, cpuTimes, now, peakRss, sleep } from './measure.js';

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
    FERRY_OSS_ENDPOINT: oss.endpoint,
    FERRY_OSS_PUBLIC_ENDPOINT: oss.pathStyleEndpoint,
    FERRY_OSS_PATH_STYLE: '1',
    FERRY_OSS_BUCKET: 'ferry',
    FERRY_OSS_REGION: oss.region,
    FERRY_OSS_ACCESS_KEY_ID: credentials.accessKeyId,
    FERRY_OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret,
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

    const start = now();
    const response = await fetch(`${worker.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ url: options.repoUrl, format: options.format }),
    });
    const accepted = now();
    const created = (await response.json()) as { jobId?: string; status?: string };
    if (response.status !== 202 || !created.jobId) throw new Error(`POST /jobs answered ${response.status}: ${JSON.stringify(created)}`);

    const phases: Record<string, number> = {};
    let polls = 0;
    for (;;) {
      await sleep(options.pollMs);
      polls++;
      const state = (await (await fetch(`${worker.url}/jobs/${created.jobId}`)).json()) as { status: string; phase?: string; size?: number; code?: string; message?: string };
      const at = now() - start;
      if (state.phase && phases[state.phase] === undefined) phases[state.phase] = at;
      if (state.status === 'error') throw new Error(`job failed: ${state.code} ${state.message}`);
      if (state.status === 'done') {
        const end = now();
        const cpu = cpuDelta(cpuBefore, cpuTimes(pid));
        return {
          ms: end - start,
          acceptedMs: accepted - start,
          phases,
          peakRssBytes: peakRss(pid),
          cpuSelfMs: cpu?.selfMs,
          cpuChildrenMs: cpu?.childrenMs,
          size: state.size ?? 0,
          polls,
        };
      }
      if (now() - start > 120_000) throw new Error('job did not finish within 120 s');
    }
  } catch (error) {
    throw new Error(`${(error as Error).message}\nworker output:\n${worker.output.slice(-20).join('\n')}`, { cause: error });
  } finally {
    await worker.close();
    await oss.close();
    await rm(dir, { recursive: true, force: true });
  }
}
