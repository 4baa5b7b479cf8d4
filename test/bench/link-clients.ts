// The clients the link section times besides `ferry get`: the client's download() on its own (in a
// process of its own, with a given number of connections), and git clone and curl over the GitHub profile.
import { spawn } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { gitEnv, gitRevParse, sha256File } from '../helpers/fixtures.js';
import type { LinkProxy } from '../helpers/link-proxy.js';
import { ROOT } from '../helpers/worker-process.js';
import { timedGit } from './clone-git.js';
import { now } from './measure.js';
import { seconds } from './report.js';

export interface SignedArtifact {
  url: string;
  size: number;
  sha256: string;
}

export interface SweepRun {
  connections: number;
  ms: number;
  /** What the proxy saw: the connections download() really opened. */
  opened: number;
  error?: string;
}

// download() timed in a process of its own, so neither the proxies nor the store share its event loop.
const DOWNLOAD_SCRIPT = `
import { download } from ${JSON.stringify(join(ROOT, 'dist/client/download.js'))};
const options = JSON.parse(process.argv.at(-1));
const start = performance.now();
const result = await download(options);
process.stdout.write(JSON.stringify({ ms: performance.now() - start, size: result.size }));
`;

export async function timedDownload(artifact: SignedArtifact, connections: number, dest: string, store: LinkProxy): Promise<SweepRun> {
  const before = store.stats.connections;
  const options = { url: artifact.url, dest, sha256: artifact.sha256, size: artifact.size, connections, resume: false };
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', DOWNLOAD_SCRIPT, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`download() with connections=${connections} exited ${code}: ${stderr.trim()}`));
    });
  });
  await rm(dest, { force: true });
  const { ms } = JSON.parse(out) as { ms: number };
  return { connections, ms, opened: store.stats.connections - before };
}

export interface GithubSide {
  clones: number[];
  curls: number[];
  zipBytes: number;
  problems: string[];
}

/** git clone and curl of the same artifact over the GitHub profile, side by side (neither fills the link's total). */
export async function githubSide(
  options: { githubRuns: number; log: (line: string) => void },
  target: { cloneUrl: string; head: string; fileUrl: string; zipSha: string; scratch: string },
): Promise<GithubSide> {
  const result: GithubSide = { clones: [], curls: [], zipBytes: 0, problems: [] };
  for (let i = 0; i < options.githubRuns; i++) {
    const dir = join(target.scratch, `github-${i}`);
    await mkdir(join(dir, 'home'), { recursive: true });
    const clone = async (): Promise<void> => {
      const ms = await timedGit(['clone', '--quiet', target.cloneUrl, join(dir, 'repo')], gitEnv({ HOME: join(dir, 'home') }));
      const got = await gitRevParse(join(dir, 'repo'), 'HEAD');
      if (got !== target.head) throw new Error(`git clone over the GitHub profile: HEAD ${got}, expected ${target.head}`);
      result.clones.push(ms);
    };
    const curl = async (): Promise<void> => {
      const file = join(dir, 'link.zip');
      const ms = await timedCommand('curl', ['--silent', '--show-error', '--fail', '--output', file, target.fileUrl]);
      if ((await sha256File(file)) !== target.zipSha) throw new Error('curl over the GitHub profile: the sha256 differs');
      result.zipBytes = (await stat(file)).size;
      result.curls.push(ms);
    };
    const settled = await Promise.allSettled([clone(), curl()]);
    for (const outcome of settled) if (outcome.status === 'rejected') result.problems.push(String((outcome.reason as Error).message ?? outcome.reason).slice(0, 300));
    await rm(dir, { recursive: true, force: true });
    options.log(`link: GitHub side run ${i + 1}/${options.githubRuns}: git clone ${seconds(result.clones.at(-1) ?? NaN)}, curl ${seconds(result.curls.at(-1) ?? NaN)}`);
  }
  return result;
}

/** A command timed from spawn to exit; rejects with its stderr. */
export function timedCommand(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = now();
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(now() - start) : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
}
