// One cold bundle job on the real worker process (./bootstrap, as in the core rows' worker-job.ts),
// with the memory of the worker's node process and of each git process it starts sampled from /proc.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOssServer } from '../../src/local/oss/index.js';
import { ossEnv } from '../helpers/oss-env.js';
import { startWorkerProcess } from '../helpers/worker-process.js';
import { sampleTree, type TreePeaks } from './clone-rss.js';
import { now } from './measure.js';

export interface BundleJobRun {
  /** POST /jobs until the worker logs `job <id> done`. */
  ms: number;
  /** The worker's own phase timings, from that line (`fetching=512ms …`). */
  phases: Record<string, number>;
  peaks: TreePeaks;
  /** Total bytes of the bundle parts. */
  size: number;
}

const credentials = { accessKeyId: 'LTAIbench', accessKeySecret: 'bench-secret' };

/** Fresh store, fresh work dir, fresh worker: nothing of the repository is cached. */
export async function runBundleJob(options: { repoUrl: string; gitHost: string; extraEnv: Record<string, string> }): Promise<BundleJobRun> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-bundle-'));
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
    const initialized = await fetch(`${worker.url}/initialize`, { method: 'POST' });
    if (!initialized.ok) throw new Error(`worker /initialize answered ${initialized.status}`);
    let tail = '';
    let jobId: string | undefined;
    let finished!: () => void;
    const ended = new Promise<void>((resolve) => (finished = resolve));
    const endLine = (): RegExpExecArray | null => (jobId === undefined ? null : new RegExp(`^job ${jobId} (done|error).*$`, 'm').exec(tail));
    worker.child.stdout?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString('utf8')).slice(-8192);
      if (endLine()) finished();
    });

    // bootstrap execs node: the child's pid is the worker's node process.
    const sampler = sampleTree(worker.child.pid as number);
    const start = now();
    const response = await fetch(`${worker.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'bundle', url: options.repoUrl }),
    });
    const created = (await response.json()) as { jobId?: string; code?: string; message?: string };
    if (response.status !== 202 || !created.jobId) {
      sampler.stop();
      throw new Error(`POST /jobs {"kind":"bundle"} answered ${response.status}: ${created.code ?? ''} ${created.message ?? ''}`);
    }
    jobId = created.jobId;
    if (endLine()) finished();
    const timeout = setTimeout(finished, 300_000);
    await ended;
    clearTimeout(timeout);
    const ms = now() - start;
    const peaks = sampler.stop();
    const line = endLine();
    if (!line || line[1] !== 'done') throw new Error(`bundle job ${line ? 'failed' : 'did not finish within 300 s'}: ${line?.[0] ?? ''}`);
    const final = (await (await fetch(`${worker.url}/jobs/${jobId}`)).json()) as { parts?: { size: number }[]; size?: number };
    return {
      ms,
      phases: Object.fromEntries([...line[0].matchAll(/(\w+)=(\d+)ms/g)].map((m) => [m[1] as string, Number(m[2])])),
      peaks,
      size: final.parts?.reduce((sum, part) => sum + part.size, 0) ?? final.size ?? 0,
    };
  } catch (error) {
    throw new Error(`${(error as Error).message}\nworker output:\n${worker.output.slice(-10).join('\n')}`, { cause: error });
  } finally {
    await worker.close();
    await oss.close();
    await rm(dir, { recursive: true, force: true });
  }
}
