// One `npm run bench:load` run: a fresh local stack (its own process), N websocket clients submitting M
// jobs over the fixture repositories, optionally the worker SIGKILLed once mid-run; then every artifact
// downloaded and checked, and what the run left behind counted.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { loadConfig } from '../../src/worker/config.js';
import { createObjectStore, storageTarget } from '../../src/worker/storage/oss-store.js';
import { gitArchiveSha, gitRevParse } from '../helpers/fixtures.js';
import { startProcess } from '../helpers/process.js';
import { findLeftovers, type Leftovers } from '../helpers/stack-leftovers.js';
import { ROOT } from '../helpers/worker-process.js';
import { LoadClient, type JobRecord, type PlannedJob } from './load-clients.js';
import { now } from './measure.js';
import { sampleRss, workerPid, type RssPeaks } from './proc-tree.js';

export interface LoadOptions {
  name: string;
  clients: number;
  jobs: number;
  /** Repository URLs on the bench's git server, and their bare directories. */
  repos: { url: string; dir: string }[];
  gitHost: string;
  seed: number;
  /** SIGKILL the worker once, when this many artifacts have been built (undefined: never). */
  killAfterBuilds?: number | undefined;
  jobTimeoutMs: number;
  log(line: string): void;
}

export interface LoadResult {
  name: string;
  records: JobRecord[];
  wallMs: number;
  messages: { sentAccepted: number; sentRefused: number; sentFailed: number; delivered: number; finalsSent: number; finalsDelivered: number };
  rss: RssPeaks;
  downloads: { checked: number; mismatched: string[] };
  builds: Map<string, number>;
  leftovers: Leftovers;
  killedAt?: number | undefined;
}

interface StackInfo {
  gateway: string;
  api: string;
  oss: string;
  bucket: string;
  appKey: string;
  appSecret: string;
  counter: string;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-load-'));
  const dataDir = join(dir, 'data');
  const ferryEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('FERRY_')));
  const stack = await startProcess({
    command: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'test/bench/load-stack.ts')],
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOAD_DATA_DIR: dataDir, LOAD_GIT_HOST: options.gitHost, ...ferryEnv },
    ready: /^READY (.*)$/,
    name: 'the load stack',
    timeoutMs: 60_000,
  });
  const info = JSON.parse(stack.ready[1] as string) as StackInfo;
  const stackPid = stack.child.pid as number;
  const rss = sampleRss(stackPid);
  const clients: LoadClient[] = [];
  try {
    options.log(`${options.name}: connecting ${options.clients} clients`);
    for (let i = 0; i < options.clients; i += 20) {
      const batch = Array.from({ length: Math.min(20, options.clients - i) }, (_, j) => LoadClient.connect(info.gateway, deviceId(options.name, i + j), info));
      clients.push(...(await Promise.all(batch)));
    }
    const plan = planJobs(options);
    const records: JobRecord[] = [];
    const builds = new Map<string, number>();
    let killedAt: number | undefined;
    const onRecord = (record: JobRecord): void => {
      records.push(record);
      if (record.status === 'done' && record.cached === false) builds.set(record.key, (builds.get(record.key) ?? 0) + 1);
      if (killedAt === undefined && options.killAfterBuilds !== undefined && builds.size >= options.killAfterBuilds) {
        const pid = workerPid(stackPid);
        if (pid !== undefined) {
          killedAt = now();
          options.log(`${options.name}: SIGKILL to the worker (pid ${pid}) after ${builds.size} builds, ${records.length} jobs finished`);
          process.kill(-pid, 'SIGKILL');
        }
      }
      if (records.length % 100 === 0) options.log(`${options.name}: ${records.length}/${options.jobs} jobs finished`);
    };

    const started = now();
    await Promise.all(
      clients.map(async (client, index) => {
        for (let j = index; j < plan.length; j += clients.length) {
          onRecord(await client.run(plan[j] as PlannedJob, deviceId(options.name, index), options.jobTimeoutMs));
        }
      }),
    );
    const wallMs = Math.max(...records.map((r) => r.finishedAt ?? 0)) - started;
    const stats = (await (await fetch(`${info.counter}/stats`)).json()) as { accepted: Record<string, number>; refused: Record<string, number>; failed: number };
    const sum = (values: Record<string, number>): number => Object.values(values).reduce((a, b) => a + b, 0);
    const messages = {
      sentAccepted: sum(stats.accepted),
      sentRefused: sum(stats.refused),
      sentFailed: stats.failed,
      delivered: clients.reduce((total, client) => total + client.pushes, 0),
      finalsSent: (stats.accepted.done ?? 0) + (stats.accepted.error ?? 0),
      finalsDelivered: clients.reduce((total, client) => total + client.finalPushes, 0),
    };

    options.log(`${options.name}: downloading and checking every artifact`);
    const downloads = await checkDownloads(records, options.repos);

    // Releases and aborts run right after a job's final message: give them a moment before looking.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const leftovers = await findLeftovers({ ossDataDir: join(dataDir, 'oss'), workDir: join(dataDir, 'work'), store: await bucket(dataDir, info) });
    return { name: options.name, records, wallMs, messages, rss: rss.stop(), downloads, builds, leftovers, killedAt: killedAt === undefined ? undefined : killedAt - started };
  } finally {
    rss.stop();
    for (const client of clients) client.close();
    await stack.stop('SIGTERM', 30_000);
    if (!process.env.LOAD_KEEP) await rm(dir, { recursive: true, force: true });
    else options.log(`${options.name}: kept ${dir}`);
  }
}

const deviceId = (run: string, index: number): string => `load-${run}-${index}`;

/** Which repository and format each job asks for: uniform over repos × formats, the same for a seed. */
function planJobs(options: LoadOptions): PlannedJob[] {
  let state = options.seed >>> 0;
  // mulberry32: small, seedable, good enough to spread jobs.
  const random = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: options.jobs }, () => {
    const repo = options.repos[Math.floor(random() * options.repos.length)] as { url: string };
    const format = random() < 0.5 ? 'zip' : 'tar.gz';
    return { repo: repo.url, format, key: `${repo.url.split('/').pop()}.${format}` };
  });
}

/**
 * Every done job's URL downloaded and hashed: the bytes must match the sha256 its done message gave, and
 * that must be the sha256 of `git archive` run on the fixture itself (the artifact is the real one).
 */
async function checkDownloads(records: JobRecord[], repos: { url: string; dir: string }[]): Promise<{ checked: number; mismatched: string[] }> {
  const expected = new Map<string, Promise<string>>();
  const expect = (record: JobRecord): Promise<string> => {
    let sha = expected.get(record.key);
    if (!sha) {
      const repo = repos.find((r) => r.url === record.repo) as { dir: string };
      const name = record.repo.split('/').pop() as string;
      sha = gitRevParse(repo.dir, 'main').then((commit) => gitArchiveSha(repo.dir, commit, record.format, `${name}-${commit.slice(0, 7)}`));
      expected.set(record.key, sha);
    }
    return sha;
  };
  const done = records.filter((r) => r.status === 'done' && r.url);
  const mismatched: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < done.length) {
      const record = done[next++] as JobRecord;
      const response = await fetch(record.url as string);
      const hash = createHash('sha256');
      if (response.ok && response.body) for await (const chunk of Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)) hash.update(chunk as Buffer);
      const got = response.ok ? hash.digest('hex') : `HTTP ${response.status}`;
      const want = await expect(record);
      if (got !== record.sha256 || got !== want) mismatched.push(`${record.jobId} ${record.key}: downloaded ${got.slice(0, 12)}, done said ${record.sha256?.slice(0, 12)}, git archive ${want.slice(0, 12)}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { checked: done.length, mismatched };
}

/** A client of the stack's bucket with its dev AccessKey, to read the leases. */
async function bucket(dataDir: string, info: StackInfo) {
  const creds = JSON.parse(await readFile(join(dataDir, 'credentials.json'), 'utf8')) as { accessKey: { accessKeyId: string; accessKeySecret: string } };
  const config = loadConfig({
    FERRY_OSS_ENDPOINT: info.oss,
    FERRY_OSS_PATH_STYLE: '1',
    FERRY_OSS_BUCKET: info.bucket,
    FERRY_OSS_REGION: 'oss-cn-hongkong',
    FERRY_OSS_ACCESS_KEY_ID: creds.accessKey.accessKeyId,
    FERRY_OSS_ACCESS_KEY_SECRET: creds.accessKey.accessKeySecret,
  });
  return createObjectStore(storageTarget(config.oss));
}
