/**
 * `ferry get` with no --gateway: the child process starts the embedded local stack itself (OSS store,
 * FC emulator running the built worker, gateway) on free loopback ports, runs the job, shuts it down.
 */
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/local/data-lock.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { fixtureRoot, gitArchiveSha, gitRevParse, sha256File } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { phaseSequence } from './cli-helper.js';

let work: string;
let gitServer: GitServer;
let basicDir: string;

beforeAll(async () => {
  const root = await fixtureRoot();
  work = await mkdtemp(join(tmpdir(), 'ferry-embedded-'));
  gitServer = await startGitServer({ root });
  basicDir = join(root, 'fixtures/basic.git');
});

afterAll(async () => {
  await gitServer?.close();
  await rm(work, { recursive: true, force: true });
});

describe('embedded mode', () => {
  it('runs the whole job through an in-process stack and exits cleanly', async () => {
    const data = join(work, 'data');
    const cwd = await mkdtemp(join(work, 'cwd-'));
    const commit = await gitRevParse(basicDir, 'v0.1');
    const args = ['get', `${gitServer.url}/fixtures/basic`, '--ref', 'v0.1', '--json', '--allow-host', gitServer.host, '--allow-http', '--data', data];
    const run = await runFerry(args, { cwd });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.events[0]).toMatchObject({ type: 'local-stack', gateway: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+/) });
    expect(phaseSequence(run.events)).toEqual(['queued', 'resolving', 'fetching', 'archiving', 'uploading', 'signing']);
    const file = join(cwd, `basic-${commit.slice(0, 7)}.zip`);
    expect(await sha256File(file)).toBe(await gitArchiveSha(basicDir, commit, 'zip', `basic-${commit.slice(0, 7)}`));
    expect(await readdir(data)).toContain('credentials.json');

    // The data dir persists: the same commit again is a cache hit.
    const again = await runFerry([...args, '-o', join(cwd, 'again.zip')], { cwd });
    expect(again.code).toBe(0);
    expect(again.events.find((e) => e.type === 'done')).toMatchObject({ cached: true, commit });
  });

  it('a data dir in use by another ferry (a second get at the same time) gets this run a temporary one', async () => {
    const data = join(work, 'busy');
    await mkdir(data, { recursive: true });
    const held = await lockDataDir(data); // as another running `ferry get` or `ferry serve` holds it
    try {
      const cwd = await mkdtemp(join(work, 'cwd-'));
      const commit = await gitRevParse(basicDir, 'v0.1');
      const run = await runFerry(['get', `${gitServer.url}/fixtures/basic`, '--ref', 'v0.1', '--json', '--allow-host', gitServer.host, '--allow-http', '--data', data, '-o', 'x.zip'], { cwd });
      expect(run.code).toBe(0);
      expect(run.events.find((e) => e.type === 'warning')).toMatchObject({ message: expect.stringContaining('in use by another ferry') });
      expect(await sha256File(join(cwd, 'x.zip'))).toBe(await gitArchiveSha(basicDir, commit, 'zip', `basic-${commit.slice(0, 7)}`));
      // Nothing was written into the held dir, and its lock is still the holder's.
      expect((await readdir(data)).sort()).toEqual(['ferry.lock']);
      expect((await readFile(join(data, 'ferry.lock'), 'utf8')).trim()).toBe(String(process.pid));
    } finally {
      await held.release();
    }
  });

  it('without --allow-host the embedded stack refuses a loopback repository: exit 1 with the code', async () => {
    const run = await runFerry(['get', `${gitServer.url}/fixtures/basic`, '--allow-http', '--data', join(work, 'data2')], { cwd: work });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: HOST_NOT_ALLOWED: /m);
  });
});
