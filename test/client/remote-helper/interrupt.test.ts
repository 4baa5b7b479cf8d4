/**
 * Ctrl+C while the helper waits for its bundle job: it stops at once with ferry's message instead of
 * waiting for the job, and leaves nothing in the repository. The git server answers each request after a
 * delay (a slow upstream), so the job is still running when the signal comes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git, gitEnv } from '../../helpers/fixtures.js';
import { ROOT } from '../../helpers/worker-process.js';
import { startHelperWorld, type HelperWorld } from './_helper-env.js';

let world: HelperWorld;

beforeAll(async () => {
  world = await startHelperWorld('ferry-helper-interrupt-', { gitServerDelayMs: 1500 });
});

afterAll(async () => {
  await world?.close();
});

describe('git-remote-ferry interrupted', () => {
  it('SIGINT during the job: exit 128, "fatal: ferry: interrupted", no temporary files left', async () => {
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
    expect((await readdir(join(repo, '.git'))).filter((name) => name.startsWith('ferry-'))).toEqual([]);
    expect((await readdir(join(repo, '.git', 'objects', 'pack'))).filter((name) => name.endsWith('.keep'))).toEqual([]);
  });
});
