// Issue 11, "Speed" 2: a 200 MB file streamed by the worker's `file` kind from a local upstream
// (test/helpers/file-upstream.ts) into the local OSS store, next to what a person would do by hand in
// the same run: `curl -o` of the file, then one `curl -T` PUT of it to a signed URL of the same store.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { startOssServer } from '../../src/local/oss/index.js';
import { generatedSha256, startFileUpstream } from '../helpers/file-upstream.js';
import { timedCommand } from './link-clients.js';
import { median } from './measure.js';
import { megabytes, millis, ratioRow, seconds, verdict, type Row } from './report.js';
import { runWorkerJob, type WorkerJobRun } from './worker-job.js';

export interface FilesBenchOptions {
  runs: number;
  /** Bytes of the upstream file (BENCH_FILE_MB). */
  size: number;
  extraEnv: Record<string, string>;
  log: (line: string) => void;
}

export interface FilesBenchResult {
  rows: Row[];
  results: Record<string, unknown>;
}

interface NativeRun {
  ms: number;
  downloadMs: number;
  uploadMs: number;
}

const credentials = { accessKeyId: 'LTAIbench', accessKeySecret: 'bench-secret' };
const SEED = 11;

export async function runFilesBench(options: FilesBenchOptions): Promise<FilesBenchResult> {
  const { log, runs } = options;
  const upstream = await startFileUpstream();
  // A release asset's path: on a host the worker does not know, the file kind fetches it as a plain file.
  const path = '/bench/files/releases/download/v1/big.bin';
  upstream.serve(path, { size: options.size, seed: SEED });
  const url = upstream.url(path);
  const sha256 = generatedSha256(options.size, SEED);
  const ferry: WorkerJobRun[] = [];
  const native: NativeRun[] = [];
  let skip: string | undefined;
  try {
    for (let i = 0; i < runs; i++) {
      const steps = [
        async () => native.push(await curlThenPut(url, options.size)),
        async () => {
          if (skip) return;
          try {
            const run = await runWorkerJob({ repoUrl: url, gitHost: upstream.host, format: 'file', extraEnv: options.extraEnv, job: { kind: 'file', url } });
            if (run.sha256 !== undefined && run.sha256 !== sha256) throw new Error(`the stored file's sha256 is ${run.sha256}, expected ${sha256}`);
            if (run.size !== options.size) throw new Error(`the stored file is ${run.size} bytes, expected ${options.size}`);
            ferry.push(run);
          } catch (error) {
            skip = `the file job failed: ${oneLine((error as Error).message)}`;
          }
        },
      ];
      // Interleaved, alternating which goes first, as the core rows.
      if (i % 2 === 1) steps.reverse();
      for (const step of steps) await step();
      log(`files run ${i + 1}/${runs}: curl + PUT ${seconds(native.at(-1)?.ms ?? NaN)}, ferry file job ${skip ? `skipped (${skip.slice(0, 120)})` : `${seconds(ferry.at(-1)?.ms ?? NaN)}, worker ${megabytes(ferry.at(-1)?.peakRssBytes)}`}`);
    }
  } finally {
    await upstream.close();
  }
  return { rows: rowsFor(), results: { size: options.size, native, ferry, skip } };

  function rowsFor(): Row[] {
    const nativeMs = median(native.map((r) => r.ms));
    const how = `curl -o ${millis(median(native.map((r) => r.downloadMs)))} + curl -T to a signed URL ${millis(median(native.map((r) => r.uploadMs)))}, median of ${native.length}`;
    const label = `file job ${megabytes(options.size)} upstream -> OSS`;
    if (skip || ferry.length === 0) {
      return [
        { metric: label, ferry: 'skipped', baseline: seconds(nativeMs), ratio: '-', target: 'ratio <= 1.1', result: 'info', note: `SKIPPED: ${skip ?? 'no run'}; baseline: ${how}` },
        { metric: 'worker peak RSS, file job', ferry: 'skipped', baseline: '-', ratio: '-', target: '<= 150 MB', result: 'info', note: `SKIPPED: ${skip ?? 'no run'}` },
      ];
    }
    const phaseNames = [...new Set(ferry.flatMap((r) => Object.keys(r.phases)))];
    const rss = Math.max(...ferry.map((r) => r.peakRssBytes ?? NaN));
    return [
      ratioRow(
        label,
        median(ferry.map((r) => r.ms)),
        nativeMs,
        1.1,
        `median of ${ferry.length}; a bare worker (fresh store and work dir), POST /jobs {kind:"file"} to its "job … done" line, sha256 checked; ` +
          `phases (medians) ${phaseNames.map((name) => `${name} ${millis(median(ferry.map((r) => r.phases[name] ?? NaN)))}`).join(', ')}; baseline: ${how}`,
      ),
      {
        metric: 'worker peak RSS, file job',
        ferry: megabytes(rss),
        baseline: '-',
        ratio: '-',
        target: '<= 150 MB',
        result: verdict(rss <= 150 * 1024 ** 2),
        note: `highest VmHWM of the worker's node process over ${ferry.length} runs; before the job (start-up and /initialize) it was ${megabytes(median(ferry.map((r) => r.peakRssBeforeJobBytes ?? NaN)))} (median)`,
      },
    ];
  }
}

/** The hand-made way: download the file to disk, then upload it in one PUT to a fresh store. */
async function curlThenPut(url: string, size: number): Promise<NativeRun> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-files-'));
  const oss = await startOssServer({ dataDir: join(dir, 'oss'), port: 0, credentials: [credentials], buckets: ['ferry'], region: 'oss-cn-hongkong' });
  try {
    const file = join(dir, 'big.bin');
    const downloadMs = await timedCommand('curl', ['--silent', '--show-error', '--fail', '--output', file, url]);
    const client = new OSS({
      endpoint: oss.pathStyleEndpoint,
      bucket: 'ferry',
      region: oss.region,
      ...credentials,
      authorizationV4: true,
      secure: false,
      // Not in the typings: path-style addressing, as the worker uses against the local store.
      sldEnable: true,
    } as OSS.Options);
    const signed = await client.signatureUrlV4('PUT', 600, { headers: {}, queries: {} }, 'files/big.bin');
    const uploadMs = await timedCommand('curl', ['--silent', '--show-error', '--fail', '--upload-file', file, signed]);
    const head = await client.head('files/big.bin');
    const stored = Number((head.res.headers as Record<string, string>)['content-length']);
    if (stored !== size) throw new Error(`curl -T stored ${stored} bytes, expected ${size}`);
    return { ms: downloadMs + uploadMs, downloadMs, uploadMs };
  } finally {
    await oss.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function oneLine(text: string): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
