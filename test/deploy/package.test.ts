import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiGatewayEvent, ApiGatewayResult } from '../../src/protocol/apigw-event.js';
import { readElf } from '../../src/deploy/elf.js';
import { startOssServer, type OssServer } from '../../src/local/oss/index.js';
import { fixtureRoot, gitArchiveSha, gitRevParse } from '../helpers/fixtures.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { minimalRootfs, rootfsUnavailable, spawnInRootfs } from '../helpers/rootfs.js';
import { waitFor } from '../helpers/wait.js';
import { ROOT } from '../helpers/worker-process.js';

const execFileAsync = promisify(execFile);

// `npm run package` builds the git layer from Debian packages with apt: where apt is missing the
// whole file is skipped with the reason. In CI (CI=true) nothing may be skipped: a missing tool fails.
const unavailable = await rootfsUnavailable();
const mustRun = process.env.CI === 'true' || process.env.CI === '1';

let temp: string;
let out: string;
let printed: string;
let code: string;
let layer: string;

async function unzip(zip: string, into: string): Promise<void> {
  await mkdir(into, { recursive: true });
  await execFileAsync('unzip', ['-q', zip, '-d', into]);
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const name = join(prefix, entry.name);
    if (entry.isDirectory()) names.push(...(await listFiles(dir, name)));
    else names.push(name);
  }
  return names;
}

describe.skipIf(unavailable !== undefined && !mustRun)(`npm run package ${unavailable ? `(skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    if (unavailable) throw new Error(`the deploy checks must run in CI, but ${unavailable}`);
    temp = await mkdtemp(join(tmpdir(), 'ferry-package-'));
    out = join(temp, 'deploy');
    // What `npm run package` runs once the build is done (the test run has just built dist/).
    const { stdout } = await execFileAsync(process.execPath, [join(ROOT, 'dist/deploy/package.js'), '--out', out], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 });
    printed = stdout;
    code = join(temp, 'code');
    layer = join(temp, 'opt', 'git');
    await unzip(join(out, 'ferry-code.zip'), code);
    await unzip(join(out, 'ferry-git-layer.zip'), layer);
  }, 15 * 60_000);

  afterAll(async () => {
    if (temp) await rm(temp, { recursive: true, force: true });
  });

  it('prints where each part is and its size', () => {
    expect(printed).toMatch(/^code package +\S*ferry-code\.zip +\d+\.\d MiB/m);
    expect(printed).toMatch(/^web page +\S*web\/ +\(\d+ files/m);
    expect(printed).toMatch(/^git layer +\S*ferry-git-layer\.zip +\d+\.\d MiB .*git 1:2\.39/m);
  });

  it('web page: the static site with the protocol modules it imports', async () => {
    const site = await listFiles(join(out, 'web'));
    expect(site).toEqual(expect.arrayContaining(['index.html', 'app.js', 'gateway.js']));
    expect(site.some((file) => file.startsWith('protocol/'))).toBe(true);
    expect(site.filter((file) => file.endsWith('.ts') || file === 'tsconfig.json')).toEqual([]);
  });

  it('code package: bootstrap executable at the root, the worker and its production packages only', async () => {
    expect((await stat(join(code, 'bootstrap'))).mode & 0o111).toBe(0o111);
    expect((await readdir(code)).sort()).toEqual(['bootstrap', 'dist', 'node_modules', 'package.json']);
    const files = await listFiles(code);
    expect(files).toContain('dist/worker/main.js');
    const ours = files.filter((file) => file.startsWith('dist/'));
    // Nothing of the CLI, the local stack, the packager, sources, maps or tests.
    expect(ours.filter((file) => /^dist\/(client|local|deploy)\/|\.map$|\.ts$/.test(file))).toEqual([]);
    expect(files.filter((file) => /^(src|test|docs|web)\//.test(file))).toEqual([]);
    const manifest = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const installed = await readdir(join(code, 'node_modules'));
    for (const dev of Object.keys(manifest.devDependencies)) expect(files.some((file) => file.startsWith(`node_modules/${dev}/`))).toBe(false);
    // Client-only dependencies are pruned too.
    expect(installed).not.toContain('commander');
    expect(installed).toContain('ali-oss');
  });

  it('git layer: git and its helpers executable, every library they load inside the layer, glibc and its loader too', async () => {
    for (const program of ['bin/git', 'libexec/git-core/git', 'libexec/git-core/git-remote-https', 'libexec/bin/git', 'lib/ld-linux-x86-64.so.2']) {
      expect((await stat(join(layer, program))).mode & 0o111, program).toBe(0o111);
    }
    const libs = new Set(await readdir(join(layer, 'lib')));
    expect(libs).toContain('libc.so.6');
    expect(libs).toContain('libgcc_s.so.1'); // dlopened by glibc for thread unwinding, named by no binary
    for (const file of ['libexec/bin/git', 'libexec/bin/git-remote-http', ...[...libs].map((lib) => `lib/${lib}`)]) {
      const elf = await readElf(join(layer, file));
      expect(elf, file).toBeDefined();
      for (const needed of elf?.needed ?? []) expect(libs.has(needed), `${file} needs ${needed}`).toBe(true);
    }
    expect(await readFile(join(layer, 'ssl/ca-certificates.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
    expect(await readFile(join(layer, 'PACKAGES'), 'utf8')).toMatch(/^git=1:2\.39/m);
  });

  // custom.debian12 and custom.debian11 (Debian's archive no longer serves Debian 10): the layer brings
  // its own glibc, so it must run on Debian 11's older one as well.
  describe.each([
    { release: 'bookworm', runtime: 'custom.debian12' },
    { release: 'bullseye', runtime: 'custom.debian11' },
  ] as const)('in $runtime\'s own root filesystem ($release minbase: no git, no node), offline', ({ release }) => {
    const KEY = { accessKeyId: 'STS.rootfs', accessKeySecret: 'rootfs-secret', securityToken: 'rootfs-token' };
    const GATEWAY_SECRET = 'rootfs-gateway-secret';
    let root: string;
    let opt: string;
    let git: GitServer;
    let oss: OssServer;
    let fixtures: string;

    beforeAll(async () => {
      root = await minimalRootfs(release);
      fixtures = await fixtureRoot();
      git = await startGitServer({ root: fixtures });
      oss = await startOssServer({ dataDir: join(temp, `oss-${release}`), port: 0, credentials: [KEY], buckets: ['ferry'] });
      // FC unpacks layers under /opt: ferry's git layer as /opt/git and the official Nodejs20 layer as
      // /opt/nodejs20. That layer cannot be fetched here, so the host's own Node 20 binary stands in for it.
      // Each release gets its own copies: a binary still held by the previous release's (killed) worker
      // cannot be overwritten (ETXTBSY).
      opt = join(temp, `opt-${release}`);
      await cp(layer, join(opt, 'git'), { recursive: true });
      await mkdir(join(opt, 'nodejs20', 'bin'), { recursive: true });
      await copyFile(process.execPath, join(opt, 'nodejs20', 'bin', 'node'));
    }, 15 * 60_000);

    afterAll(async () => {
      await oss?.close();
      await git?.close();
    });

    // FC's environment for a custom runtime, plus the function's configuration as the templates set it.
    const fcEnv = (): Record<string, string> => ({
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/tmp',
      FC_SERVER_PORT: '0',
      FC_FUNCTION_NAME: 'ferry',
      FC_REGION: 'cn-hongkong',
      FC_ACCOUNT_ID: '1234567890',
      FERRY_OSS_BUCKET: 'ferry',
      FERRY_OSS_ENDPOINT: oss.endpoint,
      FERRY_OSS_PUBLIC_ENDPOINT: oss.pathStyleEndpoint,
      FERRY_OSS_PATH_STYLE: '1',
      FERRY_OSS_REGION: oss.region,
      FERRY_ALLOWED_HOSTS: git.host,
      FERRY_ALLOWED_DESTINATIONS: git.host,
      FERRY_ALLOW_HTTP: '1',
      FERRY_HTTP_API: '0',
      FERRY_GATEWAY_SECRET: GATEWAY_SECRET,
    });

    async function run(optDir: string): Promise<{ child: ChildProcess; output: string[]; port: Promise<number>; exit: Promise<number | null> }> {
      const child = spawnInRootfs({ root, code, opt: optDir, env: fcEnv(), command: '/code/bootstrap' });
      const output: string[] = [];
      const exit = new Promise<number | null>((resolve) => child.once('exit', (status) => resolve(status)));
      const port = new Promise<number>((resolve, reject) => {
        const onLine = (line: string): void => {
          output.push(line);
          const match = /listening on 0\.0\.0\.0:(\d+)/.exec(line);
          if (match) resolve(Number(match[1]));
        };
        createInterface({ input: child.stdout! }).on('line', onLine);
        createInterface({ input: child.stderr! }).on('line', onLine);
        void exit.then((status) => reject(new Error(`the worker exited with ${status}:\n${output.join('\n')}`)));
      });
      port.catch(() => undefined);
      return { child, output, port, exit };
    }

    function stop(child: ChildProcess): void {
      // The whole group: unshare, chroot's env, bash and node.
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
    }

    it('bootstrap refuses to start without git, in one line that says which layer to add', async () => {
      const noGit = join(temp, `opt-no-git-${release}`);
      await mkdir(join(noGit, 'nodejs20', 'bin'), { recursive: true });
      await copyFile(process.execPath, join(noGit, 'nodejs20', 'bin', 'node'));
      const started = await run(noGit);
      expect(await started.exit).toBe(1);
      expect(started.output).toEqual([expect.stringMatching(/^ferry bootstrap: git not found: add ferry's git layer/)]);
    });

    it('bootstrap refuses to start without Node.js, naming the official layer', async () => {
      const empty = join(temp, `opt-empty-${release}`); // an /opt with neither layer in it
      await mkdir(empty, { recursive: true });
      const started = await run(empty);
      expect(await started.exit).toBe(1);
      expect(started.output).toEqual([expect.stringMatching(/^ferry bootstrap: Node\.js not found: add the official Nodejs20 layer/)]);
    });

    it('runs /initialize, a gateway /healthz event and a whole job whose archive equals git archive', async () => {
      const started = await run(opt);
      try {
        const base = `http://127.0.0.1:${await started.port}`;
        const fcHeaders = {
          'x-fc-request-id': 'rootfs-request',
          'x-fc-access-key-id': KEY.accessKeyId,
          'x-fc-access-key-secret': KEY.accessKeySecret,
          'x-fc-security-token': KEY.securityToken,
          'x-fc-function-name': 'ferry',
          'x-fc-region': 'cn-hongkong',
        };
        expect((await fetch(`${base}/initialize`, { method: 'POST', headers: fcHeaders })).status).toBe(200);

        const invoke = async (httpMethod: string, path: string, body = ''): Promise<{ status: number; json: Record<string, unknown> }> => {
          const event: ApiGatewayEvent = {
            path,
            httpMethod,
            headers: { 'content-type': 'application/json', 'x-ferry-gateway-secret': GATEWAY_SECRET },
            queryParameters: {},
            pathParameters: {},
            body,
            isBase64Encoded: false,
          };
          const response = await fetch(`${base}/invoke`, { method: 'POST', headers: fcHeaders, body: JSON.stringify(event) });
          expect(response.status).toBe(200);
          const result = (await response.json()) as ApiGatewayResult;
          return { status: result.statusCode, json: JSON.parse(result.body) as Record<string, unknown> };
        };

        expect(await invoke('GET', '/healthz')).toMatchObject({ status: 200, json: { ok: true } });

        const submitted = await invoke('POST', '/jobs', JSON.stringify({ url: `${git.url}/fixtures/basic`, format: 'zip' }));
        expect(submitted.status).toBe(202);
        const jobId = String(submitted.json.jobId);
        const done = await waitFor(
          async () => {
            const { json } = await invoke('GET', `/jobs/${jobId}`);
            return json.status === 'done' || json.status === 'error' ? json : undefined;
          },
          120_000,
          'the job to finish',
          200,
        );
        expect(done, started.output.join('\n')).toMatchObject({ status: 'done' });

        const commit = await gitRevParse(join(fixtures, 'fixtures/basic.git'), 'main');
        expect(done.commit).toBe(commit);
        const archive = Buffer.from(await (await fetch(String(done.url))).arrayBuffer());
        const sha256 = createHash('sha256').update(archive).digest('hex');
        expect(sha256).toBe(done.sha256);
        expect(sha256).toBe(await gitArchiveSha(join(fixtures, 'fixtures/basic.git'), commit, 'zip', `basic-${commit.slice(0, 7)}`));
        // The git that did it was the layer's: the image has none of its own.
        expect(started.output.join('\n')).not.toMatch(/GIT_FAILED|warm-up: /);
      } finally {
        stop(started.child);
        await started.exit;
      }
    });
  });
});
