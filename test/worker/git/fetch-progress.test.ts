import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgressDetail } from '../../../src/worker/artifacts/types.js';
import { createGitContext } from '../../../src/worker/git/context.js';
import { FetchProgressTracker, parseGitProgressLine, progressLines, type GitProgressLine } from '../../../src/worker/git/fetch-progress.js';
import { MirrorCache } from '../../../src/worker/git/mirror.js';
import { parseRepoUrl } from '../../../src/worker/git/url.js';
import { fixtureRoot, gitRevParse } from '../../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../../helpers/git-server.js';
import { testDestinations } from '../../helpers/destinations.js';

// Lines as git 2.x prints them with --progress and LC_ALL=C (the server's with their trailing blanks).
const LINES: [string, GitProgressLine | undefined][] = [
  ['remote: Enumerating objects: 9148, done.        ', { stage: 'enumerating', done: 9148 }],
  ['remote: Enumerating objects: 4500', { stage: 'enumerating', done: 4500 }],
  ['remote: Counting objects:   0% (1/6797)        ', { stage: 'counting', done: 1, total: 6797 }],
  ['remote: Counting objects:  99% (6730/6797)        ', { stage: 'counting', done: 6730, total: 6797 }],
  ['remote: Counting objects: 100% (6797/6797), done.        ', { stage: 'counting', done: 6797, total: 6797 }],
  ['remote: Compressing objects:  50% (1500/3000)\x1b[K', { stage: 'compressing', done: 1500, total: 3000 }],
  ['Receiving objects:   0% (1/9148)', { stage: 'receiving', done: 1, total: 9148 }],
  ['Receiving objects:  40% (3660/9148), 2.40 MiB | 1.10 MiB/s', { stage: 'receiving', done: 3660, total: 9148, bytes: Math.round(2.4 * 1024 ** 2) }],
  ['Receiving objects: 100% (9148/9148), 6.60 MiB | 3.00 MiB/s, done.', { stage: 'receiving', done: 9148, total: 9148, bytes: Math.round(6.6 * 1024 ** 2) }],
  ['Unpacking objects: 100% (3/3), 256 bytes | 256.00 KiB/s, done.', { stage: 'unpacking', done: 3, total: 3, bytes: 256 }],
  ['Resolving deltas:  50% (2500/5000)', { stage: 'resolving', done: 2500, total: 5000 }],
  ['Checking connectivity: 9148, done.', { stage: 'checking', done: 9148 }],
  ['remote: Total 9148 (delta 5000), reused 0 (delta 0), pack-reused 0        ', undefined],
  ['From https://github.com/expressjs/express', undefined],
  [' * [new ref]         3c46fa1ad573 -> refs/ferry/3c46fa1ad573', undefined],
  ['remote: Finding sources:  50% (1/2)', undefined],
  ['', undefined],
];

describe('parseGitProgressLine', () => {
  it.each(LINES)('%j', (line, expected) => {
    expect(parseGitProgressLine(line)).toEqual(expected);
  });
});

describe('progressLines', () => {
  it('splits chunks on \\r and \\n, whatever the chunk boundaries', () => {
    const seen: GitProgressLine[] = [];
    const feed = progressLines((line) => seen.push(line));
    feed('remote: Counting objects:  99% (6730/6797)\rremote: Counting obj');
    feed('ects: 100% (6797/6797), done.\nReceiving objects:   0% (1/9148)\r');
    expect(seen.map((l) => `${l.stage} ${l.done}/${l.total}`)).toEqual(['counting 6730/6797', 'counting 6797/6797', 'receiving 1/9148']);
  });
});

describe('FetchProgressTracker', () => {
  it('names each stage with its own counts and keeps one percent for the fetch that never goes back', () => {
    const details: ProgressDetail[] = [];
    const tracker = new FetchProgressTracker((detail) => details.push(detail));
    tracker.stage('connecting', 'contacting github.com');
    for (const [text] of LINES) {
      const line = parseGitProgressLine(text);
      if (line) tracker.line(line);
    }
    // Nothing known before git counts with a total: no percent at all rather than a made-up 0.
    expect(details[0]).toEqual({ stage: 'connecting', message: 'contacting github.com' });
    expect(details[1]).toMatchObject({ stage: 'enumerating', stageDone: 9148, message: 'enumerating objects on the server: 9148' });
    expect(details[1]?.percent).toBeUndefined();
    expect(details).toContainEqual({ stage: 'counting', stageDone: 6730, stageTotal: 6797, percent: 9, message: 'counting objects on the server 6730/6797' });
    expect(details).toContainEqual({
      stage: 'receiving', stageDone: 3660, stageTotal: 9148, bytes: Math.round(2.4 * 1024 ** 2), percent: 48, message: 'receiving objects 3660/9148',
    });
    const percents = details.map((d) => d.percent).filter((p) => p !== undefined);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)).toBe(100);
  });

  it('does not go back when git starts over (a second fetch after a stale lock)', () => {
    const details: ProgressDetail[] = [];
    const tracker = new FetchProgressTracker((detail) => details.push(detail));
    tracker.line({ stage: 'receiving', done: 50, total: 100 });
    tracker.line({ stage: 'counting', done: 1, total: 100 });
    expect(details.map((d) => d.percent)).toEqual([55, 55]);
    expect(details[1]?.message).toBe('counting objects on the server 1/100');
  });
});

describe('a real fetch through MirrorCache', () => {
  let server: GitServer;
  let root: string;
  let temp: string;
  beforeAll(async () => {
    root = await fixtureRoot();
    server = await startGitServer({ root });
    temp = await mkdtemp(join(tmpdir(), 'ferry-fetch-progress-'));
  });
  afterAll(async () => {
    await server?.close();
    await rm(temp, { recursive: true, force: true });
  });

  it("reports git's stages in git's order, every one named", async () => {
    const mirrors = new MirrorCache({ workDir: temp, git: createGitContext({ allowHttp: true, timeoutMs: 30_000, allowedDestinations: testDestinations }) });
    const repo = parseRepoUrl(`${server.url}/fixtures/basic`, { allowedHosts: [server.host], allowHttp: true });
    const lines: GitProgressLine[] = [];
    const lease = await mirrors.fetch(repo, await gitRevParse(join(root, 'fixtures/basic.git'), 'main'), (line) => lines.push(line));
    lease.release();
    const stages = [...new Set(lines.map((line) => line.stage))];
    expect(stages.length).toBeGreaterThan(0);
    const order = ['enumerating', 'counting', 'compressing', 'receiving', 'unpacking', 'resolving', 'checking'];
    expect(stages).toEqual([...stages].sort((a, b) => order.indexOf(a) - order.indexOf(b)));
  });
});
