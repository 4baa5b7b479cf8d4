/**
 * `ferry get` end to end as a child process against a running local stack (real gateway, FC emulator
 * running the built worker, OSS store) and a real git smart-HTTP server with the fixture repositories.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { chmod, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { archiveFiles, byPath, dirFiles } from '../helpers/archive-files.js';
import { runFerry } from '../helpers/ferry-cli.js';
import { fixtureRoot, gitArchiveFiles, gitArchiveSha, gitRevParse, sha256File } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { ROOT } from '../helpers/worker-process.js';
import { phaseSequence } from './cli-helper.js';

let root: string;
let work: string;
let gitServer: GitServer;
let stack: LocalStack;
let basicDir: string;
let main: string;
let repoUrl: string;

const gatewayArgs = (): string[] => ['--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', stack.appSecret];

beforeAll(async () => {
  root = await fixtureRoot();
  work = await mkdtemp(join(tmpdir(), 'ferry-get-'));
  gitServer = await startGitServer({ root });
  stack = await startLocalStack({ dataDir: join(work, 'stack'), port: 0, allowHosts: [gitServer.host], allowHttp: true, requireSignature: true });
  basicDir = join(root, 'fixtures/basic.git');
  main = await gitRevParse(basicDir, 'main');
  repoUrl = `${gitServer.url}/fixtures/basic`;
});

afterAll(async () => {
  await stack?.close();
  await gitServer?.close();
  await rm(work, { recursive: true, force: true });
});

describe('ferry get against a running stack', () => {
  it('builds, streams the events in order, and saves exactly git archive of the commit', async () => {
    const output = join(work, 'basic.zip');
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json', '-o', output]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);

    expect(phaseSequence(run.events)).toEqual(['queued', 'resolving', 'fetching', 'archiving', 'uploading', 'signing']);
    const types = run.events.map((e) => e.type);
    expect(types.slice(0, 2)).toEqual(['connecting', 'submitted']);
    expect(types.indexOf('done')).toBeGreaterThan(types.lastIndexOf('progress'));
    expect(types.slice(-2)).toEqual(['download', 'saved']);
    for (const event of run.events) if (event.type === 'progress' || event.type === 'done') expect(event.v).toBe(1);

    const done = run.events.find((e) => e.type === 'done')!;
    expect(done).toMatchObject({ commit: main, ref: 'main', format: 'zip', cached: false, filename: `basic-${main.slice(0, 7)}.zip` });
    const saved = run.events.find((e) => e.type === 'saved')!;
    expect(saved).toMatchObject({ path: output, sha256: done.sha256, size: done.size });

    expect(await sha256File(output)).toBe(done.sha256);
    expect(await sha256File(output)).toBe(await gitArchiveSha(basicDir, main, 'zip', `basic-${main.slice(0, 7)}`));
    expect(await archiveFiles(output, 'zip', `basic-${main.slice(0, 7)}`)).toEqual((await gitArchiveFiles(basicDir, main)).sort(byPath));
    await expect(stat(`${output}.part`)).rejects.toThrow();
  });

  it('serves a second get of the same commit from the cache, saved under the server\'s file name', async () => {
    const cwd = await mkdtemp(join(work, 'cwd-'));
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json'], { cwd });
    expect(run.code).toBe(0);
    const done = run.events.find((e) => e.type === 'done')!;
    expect(done.cached).toBe(true);
    expect(run.events.some((e) => e.type === 'progress')).toBe(false);
    const file = join(cwd, `basic-${main.slice(0, 7)}.zip`);
    expect(await sha256File(file)).toBe(done.sha256);
  });

  it('--extract (zip) gives exactly the repository\'s files, modes and symlink', async () => {
    const dir = join(work, 'extract-zip');
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json', '--extract', dir], { cwd: work });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.events.at(-1)).toMatchObject({ type: 'extracted', dir });
    expect(run.events.some((e) => e.type === 'saved')).toBe(false); // only a temporary, removed after
    expect((await readdir(work)).filter((name) => name.startsWith('.ferry-'))).toEqual([]);
    const tree = await dirFiles(dir);
    expect(tree).toEqual((await gitArchiveFiles(basicDir, main)).sort(byPath));
    expect(tree.find((f) => f.path === 'run.sh')?.mode).toBe('100755');
    expect(await readlink(join(dir, 'link-to-readme'))).toBe('README.md');
  });

  it('--format tar.gz --ref v1.0.0 (annotated tag) with -o and --extract', async () => {
    const tagged = await gitRevParse(basicDir, 'v1.0.0^{commit}');
    const output = join(work, 'tagged.tar.gz');
    const dir = join(work, 'extract-tar');
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json', '--format', 'tar.gz', '--ref', 'v1.0.0', '-o', output, '--extract', dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.events.find((e) => e.type === 'done')).toMatchObject({ commit: tagged, ref: 'v1.0.0', format: 'tar.gz' });
    expect(await sha256File(output)).toBe(await gitArchiveSha(basicDir, tagged, 'tar.gz', `basic-${tagged.slice(0, 7)}`));
    const expected = (await gitArchiveFiles(basicDir, tagged)).sort(byPath);
    expect(await dirFiles(dir)).toEqual(expected);
    expect(expected.map((f) => f.path)).toContain('link-to-readme');
    expect(expected.map((f) => f.path)).not.toContain('nested/a/middle.txt'); // added after v1.0.0
  });

  it('a job error exits 1 with its code and message on stderr', async () => {
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--json', '--ref', 'no-such-branch']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: REF_NOT_FOUND: .*no-such-branch/m);
    expect(run.events.at(-1)).toMatchObject({ type: 'failed', code: 'REF_NOT_FOUND' });
  });

  it('a wrong app secret is refused by the gateway: exit 1', async () => {
    const run = await runFerry(['get', repoUrl, '--gateway', stack.gateway, '--app-key', stack.appKey, '--app-secret', 'wrong', '--json']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^ferry: GATEWAY_REFUSED: .*Invalid Signature/m);
  });

  it('the human view prints the saved path on stdout and progress on stderr', async () => {
    const output = join(work, 'human.zip');
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', output]);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(output);
    expect(run.stderr).toMatch(/(cached:|built) basic-/);
    // Next steps: a clone through ferry, and the link as a curl command that fetches the same bytes.
    expect(run.stderr).toContain(`git clone ferry::${repoUrl}`);
    const curl = /^ {2}(curl -fL -o .*?) {3}# the link works until/m.exec(run.stderr)?.[1];
    expect(curl).toMatch(/^curl -fL -o 'basic-[0-9a-f]{7}\.zip' 'http/);
    const dir = await mkdtemp(join(work, 'curl-'));
    await promisify(execFile)('sh', ['-c', curl!], { cwd: dir });
    expect(await sha256File(join(dir, (await readdir(dir))[0]!))).toBe(await sha256File(output));
  });

  it.each([
    [['get', 'https://github.com/a/b', '--format', 'rar'], /--format expects zip or tar.gz/],
    [['get', 'https://github.com/a/b', '--timeout', 'soon'], /--timeout expects/],
    [['get', 'https://github.com/a/b', '--gateway', 'http://example.com'], /--gateway expects a ws/],
    [['get', 'https://github.com/a/b', '--gateway', 'ws://127.0.0.1:1', '--app-key', 'k'], /--app-key and --app-secret go together/],
    [['get', 'https://github.com/a/b', '--allow-host', 'a b'], /--allow-host expects/],
    [['get', 'https://github.com/a/b', '--ref', 'a..b'], /--ref: "a\.\.b" is not a valid ref/],
    [['get', 'https://github.com/a/b', '--ref', '-x'], /--ref: "-x" is not a valid ref/],
    [['get', 'https://github.com/a/b', '--extract', 'package.json'], /--extract needs a new or empty directory; ENOTDIR/],
    [['get', 'https://github.com/a/b/releases/download/v1/x.tgz', '--ref', 'main'], /names a file \(release-asset\): --ref is for repositories/],
    [['get', 'https://github.com/a/b/blob/main/README.md', '--format', 'zip'], /names a file \(raw\): --format is for repositories/],
    [['get', 'https://example.com/x.bin', '--file', '--ref', 'v1'], /--file fetches the URL as it is: --ref is for repositories/],
    [['get', 'https://github.com/a/b/releases/download/v1/x.exe', '--extract', 'out'], /--extract unpacks \.zip and \.tar\.gz files; x\.exe is neither/],
    [['get', 'htps://github.com/a/b'], /"htps:\/\/" is not a scheme ferry fetches/],
    [['get', 'https://github.com/a/b', '-o', 'no/such/dir/x.zip'], /-o: the directory no\/such\/dir does not exist: create it first/],
    [['get', 'https://github.com/a/b', '-o', 'no-such-dir/'], /-o: the directory no-such-dir\/ does not exist/],
    [['get', 'https://github.com/a/b', '-o', 'package.json/x.zip'], /-o: the directory package\.json does not exist/],
    [['get', 'https://github.com/a/b/tree/dev', '--ref', 'main'], /the URL selects dev \(its \/tree\/ part\) but --ref says main: drop one of them/],
    [['get', 'a/b/tree/feature/x/docs', '--ref', 'feature/y'], /the URL selects feature\/x\/docs .* but --ref says feature\/y/],
    [['get'], /missing required argument/],
    [['get', 'https://github.com/a/b', '--no-such-flag'], /unknown option/],
  ])('usage error %j exits 2', async (args, message) => {
    const run = await runFerry(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('Ctrl+C while the job runs: INTERRUPTED, exit 130, nothing left in the working directory', async () => {
    const slow = await startGitServer({ root, delayMs: 1500 });
    const slowStack = await startLocalStack({ dataDir: join(work, 'slow-stack'), port: 0, allowHosts: [slow.host], allowHttp: true });
    const cwd = await mkdtemp(join(work, 'interrupt-'));
    try {
      const child = spawn(process.execPath, [join(ROOT, 'bin/ferry.js'), 'get', `${slow.url}/fixtures/basic`, '--gateway', slowStack.gateway, '--json'], {
        cwd,
        env: { ...process.env, FERRY_GATEWAY: '', FERRY_APP_KEY: '', FERRY_APP_SECRET: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
      // Interrupted once the job is under way (its first progress message).
      await new Promise<void>((resolve) => {
        child.stdout.setEncoding('utf8').on('data', (text: string) => {
          stdout += text;
          if (stdout.includes('"type":"progress"')) resolve();
        });
      });
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toMatch(/^ferry: INTERRUPTED: Interrupted\./m);
      expect(stderr).not.toMatch(/TIMEOUT/);
      const failed = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).at(-1);
      expect(failed).toMatchObject({ type: 'failed', code: 'INTERRUPTED' });
      expect(await readdir(cwd)).toEqual([]);
    } finally {
      await slowStack.close();
      await slow.close();
    }
  });

  describe('output paths', () => {
    it('-o <directory> saves into it under the name from the server', async () => {
      const dir = await mkdtemp(join(work, 'into-'));
      const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', dir]);
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toBe(join(dir, `basic-${main.slice(0, 7)}.zip`));
      expect(await readdir(dir)).toEqual([`basic-${main.slice(0, 7)}.zip`]);
    });

    it('a file with other content is not overwritten without --force; the same content is kept and not fetched again', async () => {
      const dir = await mkdtemp(join(work, 'exists-'));
      const output = join(dir, 'basic.zip');
      await writeFile(output, 'not the archive');
      const refused = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', output]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/OUTPUT_EXISTS: .*basic\.zip already exists with other content: run again with --force/);
      expect(await readFile(output, 'utf8')).toBe('not the archive');

      const forced = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', output, '--force', '--json']);
      expect(forced.code).toBe(0);
      const saved = forced.events.find((e) => e.type === 'saved')!;
      expect(await sha256File(output)).toBe(saved.sha256);

      const again = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', output, '--json']);
      expect(again.code).toBe(0);
      expect(again.events.some((e) => e.type === 'download')).toBe(false);
      expect(again.events.find((e) => e.type === 'warning')).toMatchObject({ message: expect.stringMatching(/already there with the same sha256/) });
      expect(await sha256File(output)).toBe(saved.sha256);
    });

    it('two gets of the same archive into one folder at once both end with the one file', async () => {
      const dir = await mkdtemp(join(work, 'twice-'));
      const runs = await Promise.all([0, 1].map(() => runFerry(['get', repoUrl, ...gatewayArgs(), '--json'], { cwd: dir })));
      for (const run of runs) expect(run.code).toBe(0);
      expect(await readdir(dir)).toEqual([`basic-${main.slice(0, 7)}.zip`]);
      expect(await sha256File(join(dir, `basic-${main.slice(0, 7)}.zip`))).toBe(runs[0]!.events.find((e) => e.type === 'done')!.sha256);
    });

    it.skipIf(process.getuid?.() === 0)('an unwritable directory is refused before any job (skipped as root, who may write anywhere)', async () => {
      const dir = await mkdtemp(join(work, 'readonly-'));
      await chmod(dir, 0o555);
      const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '-o', join(dir, 'x.zip')]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/-o: cannot write to/);
    });
  });

  it.each(['get', 'serve', 'clone', 'pull'])('ferry %s --help ends with examples', async (command) => {
    const run = await runFerry([command, '--help']);
    expect(run.code).toBe(0);
    // An example may set a variable first (`FERRY_GIT_TOKEN=… ferry get …`).
    expect(run.stdout).toMatch(new RegExp(`\\nExamples:\\n(  \\$ ([A-Z_]+=\\S+ )*(ferry ${command}|git clone ferry::).*\\n)+\\n*$`));
  });

  it('--extract into a non-empty directory is a usage error (exit 2), before any job', async () => {
    const run = await runFerry(['get', repoUrl, ...gatewayArgs(), '--extract', work]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--extract needs a new or empty directory/);
  });
});
