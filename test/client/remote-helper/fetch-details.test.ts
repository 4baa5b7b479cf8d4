/**
 * The helper's fetch beyond the plain clone: its progress lines and -q, a fresh clone served as a chain
 * of bundle parts, wanted objects that never arrive, and the embedded stack when no gateway is set.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, gitEnv } from '../../helpers/fixtures.js';
import { ROOT } from '../../helpers/worker-process.js';
import { commitUpstream, refsOf, startHelperWorld, untilWorkerSees, type HelperWorld } from './_helper-env.js';

let world: HelperWorld;

beforeAll(async () => {
  world = await startHelperWorld('ferry-helper-fetch-');
});

afterAll(async () => {
  await world?.close();
});

describe('git-remote-ferry fetch', () => {
  it('--progress shows the worker\'s phases and the download in git\'s style; -q shows nothing', async () => {
    const { url } = await world.upstream('progress');
    const loud = await world.git(['clone', '--progress', `ferry::${url}`, join(world.work, 'loud')]);
    expect(loud.code, loud.stderr).toBe(0);
    expect(loud.stderr).toMatch(/^ferry: worker (queued|resolving|fetching|bundling)/m);
    expect(loud.stderr).toMatch(/ferry: Downloading bundles: 100% \([^)]+\)(, [^,]+\/s)?, done\.\n/);
    // No index-pack progress here: the full bundle came with its pack index and was installed as it is
    // (indexed-pack.test.ts); an incremental part is indexed by git, with index-pack's own progress.

    const quiet = await world.git(['clone', '-q', `ferry::${url}`, join(world.work, 'quiet')]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });

  it('a fresh clone after upstream changes applies every part in order and matches a native clone', async () => {
    const up = await world.upstream('parts');
    expect((await world.git(['clone', '--quiet', `ferry::${up.url}`, join(world.work, 'parts-first')])).code).toBe(0);
    await commitUpstream(world, up.url, 'feature/a', 'more-a.bin', 30_000);
    const tips = (await git(['--git-dir', up.dir, 'for-each-ref', '--format=%(objectname)', 'refs/heads/feature/a'])).split('\n').filter(Boolean);
    await untilWorkerSees(world, up.url, 'refs/heads/feature/a', tips);

    const fresh = join(world.work, 'parts-fresh');
    const run = await world.git(['clone', '-v', `ferry::${up.url}`, fresh]);
    expect(run.code, run.stderr).toBe(0);
    // The first clone made the chain's full bundle; the small update is appended as an incremental one
    // (the worker's chain policy, docs/architecture.md), so this clone gets both and applies them in order.
    expect(run.stderr).toMatch(/ferry: 2 bundle part\(s\)/);
    const native = join(world.work, 'parts-native');
    await git(['clone', '--quiet', up.url, native]);
    expect(await refsOf(fresh, 'refs/remotes', 'refs/tags')).toBe(await refsOf(native, 'refs/remotes', 'refs/tags'));
    await git(['-C', fresh, 'fsck', '--strict', '--no-progress']);
    // git takes one `lock` per fetch; the other part's .keep is released when the helper exits.
    const kept = (await readdir(join(fresh, '.git', 'objects', 'pack'))).filter((name) => name.endsWith('.keep'));
    expect(kept).toEqual([]);
    expect((await readdir(join(fresh, '.git', 'objects', 'pack'))).filter((name) => name.endsWith('.pack'))).toHaveLength(2);
  });

  it('a wanted object the bundles do not bring (upstream rewritten meanwhile) fails with "run the command again"', async () => {
    const { url } = await world.upstream('changed');
    const repo = await mkdtemp(join(world.work, 'changed-'));
    await git(['init', '--quiet', repo]);
    // git only asks for what `list` showed; an oid upstream no longer has stands for a force-push in between.
    const gone = 'f'.repeat(40);
    const run = await runHelper(['origin', url], `capabilities\nfetch ${gone} refs/heads/main\n\n`, { ...world.helperEnv(), GIT_DIR: join(repo, '.git') });
    expect(run.stderr).toContain('fatal: ferry: the remote changed while fetching; run the command again');
    expect(run.code).toBe(128);
    expect(run.stdout).toBe('fetch\noption\npush\ncheck-connectivity\n\n');
  });

  it('git fetch <commit>: one reachable from a branch arrives; one that is not says what ferry fetches', async () => {
    const { url, dir } = await world.upstream('by-oid');
    const repo = await mkdtemp(join(world.work, 'by-oid-'));
    await git(['init', '--quiet', repo]);
    const old = (await git(['--git-dir', dir, 'rev-parse', 'main~2'])).trim();
    const reachable = await world.git(['-C', repo, 'fetch', `ferry::${url}`, old], repo);
    expect(reachable.code, reachable.stderr).toBe(0);
    expect(await git(['-C', repo, 'rev-parse', 'FETCH_HEAD'])).toBe(`${old}\n`);

    const nowhere = await world.git(['-C', repo, 'fetch', `ferry::${url}`, 'e'.repeat(40)], repo);
    expect(nowhere.code).not.toBe(0);
    expect(nowhere.stderr).toContain(`fatal: ferry: ${'e'.repeat(40)} is not reachable from any branch or tag of ${url}; ferry fetches branches and tags only.`);
  });

  it('started by a ferry command (FERRY_EVENTS_SOCKET): progress goes to its socket as events, not to stderr', async () => {
    const { url } = await world.upstream('events');
    const events: Record<string, unknown>[] = [];
    const path = join(await mkdtemp(join(world.work, 'events-')), 'events.sock');
    const server = createServer((socket) => {
      let buffered = '';
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) events.push(JSON.parse(line) as Record<string, unknown>);
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const run = await world.git(['clone', '--progress', `ferry::${url}`, join(world.work, 'events-clone')], undefined, { FERRY_EVENTS_SOCKET: path });
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).not.toMatch(/ferry: (worker|Downloading)/);
      expect(events.some((event) => event.type === 'progress' && event.phase === 'bundling')).toBe(true);
      expect(events.some((event) => event.type === 'done')).toBe(true);
      const last = events.filter((event) => event.type === 'download').at(-1);
      expect(last?.bytes).toBeGreaterThan(0);
      expect(last?.bytes).toBe(last?.total);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('with no gateway configured the helper starts the embedded stack itself (FERRY_ALLOW_HOSTS, FERRY_ALLOW_HTTP, FERRY_DATA)', async () => {
    const { url } = await world.upstream('embedded');
    const target = join(world.work, 'embedded-clone');
    const before = world.relay.connections;
    const run = await world.git(['clone', '--quiet', `ferry::${url}`, target], undefined, {
      FERRY_GATEWAY: '',
      FERRY_APP_KEY: '',
      FERRY_APP_SECRET: '',
      FERRY_ALLOW_HOSTS: world.gitServer.host,
      FERRY_ALLOW_HTTP: '1',
      FERRY_DATA: join(world.work, 'embedded-data'),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(world.relay.connections).toBe(before);
    expect(await git(['-C', target, 'rev-parse', 'HEAD'])).toBe(await git(['--git-dir', join(world.gitServer.root, 'up', 'embedded.git'), 'rev-parse', 'main']));
  });
});

/** The helper run directly, as git would, with a scripted stdin. */
function runHelper(args: string[], input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/git-remote-ferry.js'), ...args], { env: gitEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}
