/**
 * Ctrl+C while the helper waits for its bundle job: it stops at once with ferry's message instead of
 * waiting for the job, and leaves no temporary directory or .keep in the repository. The git server answers
 * each request after a delay (a slow upstream), so the job is still running when the signal comes.
 * Ctrl+C mid-download: the part's `.part` and journal stay in the downloads directory, and the next fetch
 * asks the store only for the missing ranges. The store sits behind the link proxy (slow enough that the
 * signal comes mid-download), which counts the bytes it served.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, gitEnv } from '../../helpers/fixtures.js';
import { ROOT } from '../../helpers/worker-process.js';
import { commitUpstream, startHelperWorld, type HelperWorld } from './_helper-env.js';

let world: HelperWorld;
let slowStore: HelperWorld;

beforeAll(async () => {
  [world, slowStore] = await Promise.all([
    startHelperWorld('ferry-helper-interrupt-', { gitServerDelayMs: 1500 }),
    startHelperWorld('ferry-helper-resume-', { storeLink: { rttMs: 2, perConnectionBytesPerSec: 1_000_000, totalBytesPerSec: 2_000_000 } }),
  ]);
});

afterAll(async () => {
  await world?.close();
  await slowStore?.close();
});

/** The built helper for `<repo>/.git`, asked to fetch `oid` as git would; stdin stays open, as git keeps it while it waits. */
function startFetch(on: HelperWorld, url: string, repo: string, oid: string): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [join(ROOT, 'bin/git-remote-ferry.js'), 'origin', url], {
    env: gitEnv({ ...on.helperEnv(), GIT_DIR: join(repo, '.git') }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
  child.stdin?.write(`option progress true\nfetch ${oid} refs/heads/main\n\n`);
  return { child, exited, stderr: () => stderr };
}

const downloadsOf = (on: HelperWorld): Promise<string[]> => readdir(join(on.cache, 'ferry', 'downloads')).catch(() => []);

describe('git-remote-ferry interrupted', () => {
  it('SIGINT during the job: exit 128, "fatal: ferry: interrupted", no temporary directory or .keep left', async () => {
    const { url, dir } = await world.upstream('interrupt');
    const repo = await mkdtemp(join(world.work, 'interrupt-'));
    await git(['init', '--quiet', repo]);
    const main = (await git(['--git-dir', dir, 'rev-parse', 'main'])).trim();
    const child = spawn(process.execPath, [join(ROOT, 'bin/git-remote-ferry.js'), 'origin', url], {
      env: gitEnv({ ...world.helperEnv(), GIT_DIR: join(repo, '.git') }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    // stdin stays open, as git keeps it while it waits for the fetch's answer.
    child.stdin.write(`option progress true\nfetch ${main} refs/heads/main\n\n`);
    await new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        stderr += text;
        if (stderr.includes('ferry: worker ')) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await exited;
    expect(stderr).toContain('fatal: ferry: interrupted');
    expect(code).toBe(128);
    expect((await readdir(join(repo, '.git'))).filter((name) => name.startsWith('ferry'))).toEqual([]);
    expect((await readdir(join(repo, '.git', 'objects', 'pack'))).filter((name) => name.endsWith('.keep'))).toEqual([]);
    // Stopped before the job named any part: nothing was downloaded.
    expect(await downloadsOf(world)).toEqual([]);
  });
});

describe('git-remote-ferry interrupted mid-download', () => {
  it('keeps the part and its journal, and the next fetch asks the store only for the missing ranges', async () => {
    const { url } = await slowStore.upstream('resume');
    // Incompressible, so the bundle is as large: several MiB take seconds through the proxy.
    await commitUpstream(slowStore, url, 'main', 'large.bin', 6 * 1024 * 1024);
    const main = (await git(['ls-remote', url, 'refs/heads/main'])).split('\t')[0] ?? '';
    const repo = await mkdtemp(join(slowStore.work, 'resume-'));
    await git(['init', '--quiet', repo]);
    const proxy = slowStore.storeProxy!;

    const first = startFetch(slowStore, url, repo, main);
    // Once the store has sent a MiB and a half, the download is under way and far from done.
    while (proxy.stats.bytesDown < 1.5 * 1024 * 1024) {
      if (first.child.exitCode !== null) throw new Error(`the helper ended before the download did: ${first.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(128);
    expect(first.stderr()).toContain('fatal: ferry: interrupted');
    expect((await readdir(join(repo, '.git'))).filter((name) => name.startsWith('ferry'))).toEqual([]);
    expect((await readdir(join(repo, '.git', 'objects', 'pack'))).filter((name) => name.endsWith('.keep'))).toEqual([]);

    // What stays: the part, named by its sha256, and its journal; no lock.
    const left = await downloadsOf(slowStore);
    const journalName = left.find((name) => /^[0-9a-f]{64}\.bundle\.part\.json$/.test(name));
    expect(journalName).toBeDefined();
    expect(left.filter((name) => name.endsWith('.lock'))).toEqual([]);
    const journal = JSON.parse(await readFile(join(slowStore.cache, 'ferry', 'downloads', journalName!), 'utf8')) as { size: number; done: [number, number][] };
    const kept = journal.done.reduce((sum, [start, end]) => sum + end - start, 0);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(journal.size);

    // The next fetch (the worker's bundle is cached: the same part) continues it.
    const before = proxy.stats.bytesDown;
    // Verbose, for the helper's line giving the parts' bytes: parts applied before the signal come again in full.
    const second = await slowStore.git(['fetch', '-v', '-v', `ferry::${url}`, 'main'], repo);
    expect(second.code).toBe(0);
    expect((await git(['-C', repo, 'rev-parse', 'FETCH_HEAD'])).trim()).toBe(main);
    const parts = Number(/ferry: \d+ bundle part\(s\), (\d+) bytes/.exec(second.stderr)?.[1]);
    expect(parts).toBeGreaterThanOrEqual(journal.size);
    const served = proxy.stats.bytesDown - before;
    // Not everything again: what the journal kept was not served twice in full.
    expect(served).toBeGreaterThanOrEqual(parts - kept);
    expect(served).toBeLessThan(parts);
    // Applied: the part's files are gone.
    expect(await downloadsOf(slowStore)).toEqual([]);
  });
});
