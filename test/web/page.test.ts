// The web page in a real browser: Debian's Chromium driven by playwright-core against the local
// stack (gateway + FC emulator running the built worker + OSS store) and a real git server.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page, type WebSocketRoute } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWebBundle } from '../../src/deploy/web-bundle.js';
import { formatBytes } from '../../src/util/bytes.js';
import { startLocalStack, type LocalStack } from '../../src/local/stack.js';
import { fixtureRoot } from '../helpers/fixtures.js';
import { generatedSha256, startFileUpstream, type FileUpstream } from '../helpers/file-upstream.js';
import { startGitServer, type GitServer } from '../helpers/git-server.js';
import { ROOT } from '../helpers/worker-process.js';

const ARTIFACTS = path.join(ROOT, 'test/artifacts');
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
/** Every request to the slow git server waits this long: a job then lasts several seconds. */
const SLOW_MS = 1200;

/** Playwright's own `expect` is not vitest's: retry a read until it matches, like its web-first assertions. */
function poll<T>(read: () => Promise<T>, timeout = 10_000) {
  return expect.poll(read, { timeout, interval: 100 });
}
const text = (locator: Locator) => () => locator.textContent();
const attr = (locator: Locator, name: string) => () => locator.getAttribute(name);

function findChromium(): string | undefined {
  try {
    const found = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
    return found || undefined;
  } catch {
    return undefined;
  }
}

const chromiumPath = findChromium();

interface Browser {
  context: BrowserContext;
  page: Page;
  /** Every NF# push the page received, parsed. */
  pushes: Record<string, unknown>[];
  close(): Promise<void>;
}

describe.skipIf(!chromiumPath)('web page (Chromium; skipped when no `chromium` binary is on PATH)', () => {
  let git: GitServer;
  let slowGit: GitServer;
  let files: FileUpstream;
  let stack: LocalStack;
  let dataDir: string;
  const open: Browser[] = [];
  // The site of the page hosted on another origin: listening before the stack starts, which must allow its origin.
  let site: Server;
  let siteHandler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(404).end();

  beforeAll(async () => {
    const root = await fixtureRoot();
    git = await startGitServer({ root });
    slowGit = await startGitServer({ root, delayMs: SLOW_MS });
    files = await startFileUpstream();
    dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-web-test-'));
    site = createServer((req, res) => siteHandler(req, res));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    stack = await startLocalStack({
      dataDir,
      port: 0,
      allowOrigins: [`http://127.0.0.1:${(site.address() as { port: number }).port}`],
      allowHosts: [git.host, slowGit.host, files.host],
      allowHttp: true,
      // As a public deployment would run it: anonymous client APIs, limited per client IP.
      gateway: { anonymousRateLimit: { perMinute: 600 } },
    });
    await mkdir(ARTIFACTS, { recursive: true });
  });

  afterAll(async () => {
    for (const browser of open) await browser.close().catch(() => undefined);
    await stack?.close();
    if (site) await new Promise<void>((resolve) => site.close(() => resolve()));
    await git?.close();
    await slowGit?.close();
    await files?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  async function openBrowser(
    options: { routeWebSocket?: (route: WebSocketRoute) => void; locale?: string; viewport?: { width: number; height: number } } = {},
  ): Promise<Browser> {
    // A fresh profile per browser: no history or device id leaks between tests.
    const profile = await mkdtemp(path.join(tmpdir(), 'ferry-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: CHROMIUM_FLAGS,
      locale: options.locale ?? 'en-US',
      viewport: options.viewport ?? { width: 1100, height: 900 },
      acceptDownloads: true,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    const pushes: Record<string, unknown>[] = [];
    page.on('websocket', (ws) => {
      ws.on('framereceived', ({ payload }) => {
        if (typeof payload === 'string' && payload.startsWith('NF#')) pushes.push(JSON.parse(payload.slice(3)) as Record<string, unknown>);
      });
    });
    if (options.routeWebSocket) await page.routeWebSocket(/.*/, options.routeWebSocket);
    const browser: Browser = {
      context,
      page,
      pushes,
      async close() {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
    open.push(browser);
    return browser;
  }

  async function load(page: Page): Promise<void> {
    await page.goto(`${stack.api}/`);
    await page.waitForSelector('#link[data-state="online"]', { timeout: 15_000 });
  }

  /** Records every phase a job card shows, in order (attribute changes and newly inserted cards). */
  async function recordPhases(page: Page): Promise<void> {
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { phases: string[] }).phases = seen;
      const note = (el: Element) => {
        const phase = el.getAttribute('data-phase');
        if (el.classList.contains('job') && phase && seen[seen.length - 1] !== phase) seen.push(phase);
      };
      new MutationObserver((records) => {
        for (const record of records) {
          if (record.type === 'attributes') note(record.target as Element);
          record.addedNodes.forEach((node) => node instanceof Element && note(node));
        }
      }).observe(document.getElementById('job-list') as HTMLElement, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-phase'] });
    });
  }

  it('fetches a repository: phases advance, the download matches the done message', async () => {
    const { page, pushes } = await openBrowser();
    await load(page);
    await page.locator('#empty').waitFor({ state: 'visible' });
    await recordPhases(page);

    await page.fill('#url', `${slowGit.url}/fixtures/basic`);
    await page.fill('#ref', 'v1.0.0');
    await page.click('#submit');

    const card = page.locator('.job').first();
    await card.locator('[data-step="fetching"][aria-current="step"]').waitFor({ timeout: 30_000 });
    await poll(text(card.locator('.progress-phase'))).toBe('Fetching');
    await poll(text(card.locator('.elapsed'))).toMatch(/Elapsed \d+ s/);
    await page.locator('.job[data-status="done"]').waitFor({ timeout: 60_000 });

    const phases = await page.evaluate(() => (window as unknown as { phases: string[] }).phases);
    const order = ['queued', 'resolving', 'fetching', 'archiving', 'uploading', 'signing', 'done'];
    expect(phases).toContain('fetching');
    expect(phases.at(-1)).toBe('done');
    expect(phases.length).toBeGreaterThanOrEqual(3);
    expect(phases.map((p) => order.indexOf(p))).toEqual([...phases.map((p) => order.indexOf(p))].sort((a, b) => a - b));

    const done = pushes.find((m) => m.type === 'done');
    expect(done).toBeDefined();
    const doneMessage = done as { sha256: string; filename: string; size: number; commit: string; cached: boolean };
    await poll(text(card.locator('.sha'))).toBe(doneMessage.sha256);
    await poll(text(card.locator('.commit'))).toBe(doneMessage.commit.slice(0, 12));
    await poll(text(card.locator('.download-label'))).toContain(doneMessage.filename);
    await card.locator('.cached-note').waitFor({ state: 'hidden' });
    await poll(text(card.locator('.job-ref'))).toBe('v1.0.0');
    await poll(text(card.locator('.cmd[data-cmd="clone"]'))).toBe(`git clone ferry::${slowGit.url}/fixtures/basic`);
    await poll(text(card.locator('.cmd[data-cmd="wget"]'))).toMatch(new RegExp(`^wget -O '${doneMessage.filename.replace(/\./g, '\\.')}' 'http`));

    await page.screenshot({ path: path.join(ARTIFACTS, 'web-done.png'), fullPage: true });

    const [download] = await Promise.all([page.waitForEvent('download'), card.locator('.download').click()]);
    expect(download.suggestedFilename()).toBe(doneMessage.filename);
    const file = await download.path();
    const bytes = await readFile(file);
    expect(bytes.length).toBe(doneMessage.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(doneMessage.sha256);

    // The same request again is answered from the cache, and the page says so.
    await page.click('#submit');
    await poll(() => page.locator('.job').count()).toBe(2);
    await page.locator('.job').first().locator('.cached-note').waitFor({ state: 'visible', timeout: 30_000 });
  });

  it("names git's fetching stage in the page's language while the percent is not known yet", async () => {
    const { page, pushes } = await openBrowser({ locale: 'zh-CN' });
    await load(page);
    await poll(attr(page.locator('html'), 'lang')).toBe('zh-CN');
    // A ref no other test builds: the fetch is not answered from the artifact cache or the mirror.
    await page.fill('#url', `${slowGit.url}/fixtures/basic`);
    await page.fill('#ref', 'v0.1');
    await page.click('#submit');
    const card = page.locator('.job').first();
    await card.locator('[data-step="fetching"][aria-current="step"]').waitFor({ timeout: 30_000 });
    // The slow server keeps git waiting before it prints anything: the worker's first stage, translated.
    await poll(text(card.locator('.progress-message'))).toBe('正在连接 Git 主机…');
    expect(await card.locator('.bar').getAttribute('class')).toContain('indeterminate');
    expect(pushes.find((m) => m.phase === 'fetching')).toMatchObject({ stage: 'connecting', message: expect.stringMatching(/^contacting /) });
    await page.locator('.job[data-status="done"]').waitFor({ timeout: 60_000 });
    // Every stage the worker named is one the page has words for (none shown in English).
    const stages = new Set(pushes.filter((m) => m.phase === 'fetching').map((m) => m.stage));
    for (const stage of stages) expect(['connecting', 'enumerating', 'counting', 'compressing', 'receiving', 'unpacking', 'resolving', 'checking']).toContain(stage);
  });

  it('takes owner/repo as a GitHub repository, as the server does, and gives no hint for it', async () => {
    const { page } = await openBrowser();
    await load(page);
    // As source text: the test runner would rewrite a dynamic import inside a function.
    const hints = await page.evaluate(`import('/jobs.js').then((jobs) =>
      ['expressjs/express', 'expressjs/express/', 'expressjs', 'a/b/c'].map((value) => jobs.checkRepoUrl(value) ?? null))`);
    expect(hints).toEqual([null, null, 'hint.url.malformed', 'hint.url.malformed']);
  });

  it('takes a restarted attempt\'s steps although they go back, and marks the job resumed; a stale push of the same attempt stays ignored', async () => {
    const { page } = await openBrowser();
    await load(page);
    const folded = await page.evaluate(`import('/jobs.js').then((jobs) => {
      const job = { jobId: 'j', input: 'x', inputRef: '', repo: 'x', ref: 'main', commit: '', format: 'zip', status: 'running', phase: 'archiving', attempt: 1, createdAt: 1, updatedAt: 10 };
      const stale = jobs.applyMessage(job, { v: 1, type: 'progress', jobId: 'j', phase: 'fetching', attempt: 1, ts: 20 });
      const resumed = jobs.applyMessage(job, { v: 1, type: 'progress', jobId: 'j', phase: 'queued', attempt: 2, message: 'worker restarted, resuming', ts: 20 });
      const polled = jobs.applyState(job, { jobId: 'j', status: 'running', phase: 'resolving', attempt: 2, updatedAt: 30 });
      return { stale: stale ?? null, resumed: [resumed.phase, resumed.attempt, resumed.resumed], polled: [polled.phase, polled.resumed] };
    })`);
    expect(folded).toEqual({ stale: null, resumed: ['queued', 2, true], polled: ['resolving', true] });
  });

  it('a file link selects "File" by itself; a repository URL goes back to zip', async () => {
    const { page } = await openBrowser();
    await load(page);
    await page.fill('#url', 'https://github.com/o/r/releases/download/v1.0/tool.tar.gz');
    await poll(() => page.isChecked('#format-file')).toBe(true);
    await page.fill('#url', 'https://github.com/o/r');
    await poll(() => page.isChecked('#format-zip')).toBe(true);
    // A choice of the user's own stays.
    await page.click('label[for="format-tgz"]');
    await page.fill('#url', 'https://github.com/o/other');
    expect(await page.isChecked('#format-tgz')).toBe(true);
  });

  it('fetches a file: its own steps, the download under the upstream name, and the sha256 to check it against', async () => {
    const size = 512 * 1024 + 3;
    files.serve('/downloads/tool-linux.bin', { size, seed: 11 });
    const { page } = await openBrowser();
    await load(page);
    await page.fill('#url', files.url('/downloads/tool-linux.bin'));
    // A plain file on a host the page does not know: fetched as a file by choosing "File".
    await page.click('label[for="format-file"]');
    await page.click('#submit');

    const card = page.locator('.job').first();
    await page.locator('.job[data-status="done"]').waitFor({ timeout: 60_000 });
    expect(await card.locator('.step').evaluateAll((steps) => steps.map((step) => (step as HTMLElement).dataset.step))).toEqual(['queued', 'resolving', 'downloading', 'uploading', 'signing']);
    await poll(text(card.locator('.sha'))).toBe(generatedSha256(size, 11));
    await poll(text(card.locator('.job-format'))).toBe('file');
    const [download] = await Promise.all([page.waitForEvent('download'), card.locator('.download').click()]);
    expect(download.suggestedFilename()).toBe('tool-linux.bin');
    const bytes = await readFile(await download.path());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(generatedSha256(size, 11));

    // The next steps: the curl command as the page offers it fetches the same bytes; a file has no clone line.
    const curl = (await card.locator('.cmd[data-cmd="curl"]').textContent()) ?? '';
    expect(curl).toMatch(/^curl -fL -o 'tool-linux\.bin' 'http/);
    expect(await card.locator('.cmd[data-cmd="clone"]').isVisible()).toBe(false);
    const shellDir = await mkdtemp(path.join(tmpdir(), 'ferry-curl-'));
    try {
      // Not execFileSync: the stack answering curl runs in this very process.
      await promisify(execFile)('sh', ['-c', curl], { cwd: shellDir });
      expect(createHash('sha256').update(await readFile(path.join(shellDir, 'tool-linux.bin'))).digest('hex')).toBe(generatedSha256(size, 11));
    } finally {
      await rm(shellDir, { recursive: true, force: true });
    }
  });

  it('catches bad input in the page and shows server errors with their code', async () => {
    const { page } = await openBrowser();
    await load(page);
    const posts: string[] = [];
    page.on('request', (req) => {
      if (req.method() === 'POST') posts.push(req.url());
    });
    page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => typeof payload === 'string' && payload.includes('"/jobs"') && posts.push(payload)));

    await page.click('#submit');
    await poll(text(page.locator('#url-hint'))).toMatch(/Enter a repository URL/);
    await poll(attr(page.locator('#url'), 'aria-invalid')).toBe('true');
    await page.fill('#url', 'not a url');
    await page.click('#submit');
    await poll(text(page.locator('#url-hint'))).toMatch(/spaces/);
    await page.fill('#url', 'ftp://example.com/a/b');
    await page.click('#submit');
    await poll(text(page.locator('#url-hint'))).toMatch(/https:\/\//);
    await page.fill('#url', `${git.url}/fixtures/basic`);
    await page.fill('#ref', 'bad..ref');
    await page.click('#submit');
    await poll(text(page.locator('#ref-hint'))).toMatch(/Not a valid branch/);
    expect(posts).toEqual([]);

    // A well-formed URL on a host the server does not allow: the server's code and message are shown.
    await page.fill('#ref', '');
    await page.fill('#url', 'https://example.com/owner/repo');
    await page.click('#submit');
    const error = page.locator('#form-error');
    await error.waitFor({ state: 'visible', timeout: 30_000 });
    await poll(text(error)).toContain('This host is not allowed');
    await poll(text(error.locator('code'))).toBe('HOST_NOT_ALLOWED');
    await poll(text(error)).toContain('example.com');
    await poll(text(page.locator('#url-hint'))).toBe('');

    // A ref the repository does not have.
    await page.fill('#url', `${git.url}/fixtures/basic`);
    await page.fill('#ref', 'no-such-branch');
    await page.click('#submit');
    await poll(text(error.locator('code')), 30_000).toBe('REF_NOT_FOUND');
    await poll(text(error)).toContain('Branch, tag or commit not found');

    // The same error in Chinese after switching the language.
    await page.click('[data-lang="zh-CN"]');
    await poll(attr(page.locator('html'), 'lang')).toBe('zh-CN');
    await poll(text(error)).toContain('找不到该分支、标签或提交');
    await poll(() => page.locator('.job').count()).toBe(0);
  });

  it('clears a server error once the input changes, and when a hint appears instead', async () => {
    const { page } = await openBrowser();
    await load(page);
    const error = page.locator('#form-error');
    const showServerError = async (): Promise<void> => {
      await page.fill('#url', 'https://example.com/owner/repo');
      await page.fill('#ref', 'main');
      await page.click('#submit');
      await poll(text(error.locator('code')), 30_000).toBe('HOST_NOT_ALLOWED');
    };

    await showServerError();
    await page.fill('#url', `${git.url}/fixtures/basic`);
    await error.waitFor({ state: 'hidden' });

    await showServerError();
    await page.fill('#ref', 'v1.0.0');
    await error.waitFor({ state: 'hidden' });

    // Same input, another choice: "File" with a ref is caught by the page, and the old error must not stay under its hint.
    await showServerError();
    await page.check('input[name="format"][value="file"]');
    await page.click('#submit');
    await poll(text(page.locator('#ref-hint'))).not.toBe('');
    expect(await error.isVisible()).toBe(false);
  });

  it('falls back to English for a browser language it does not have (fr-FR)', async () => {
    const { page } = await openBrowser({ locale: 'fr-FR' });
    await load(page);
    expect(await page.evaluate(() => navigator.language)).toBe('fr-FR');
    await poll(attr(page.locator('html'), 'lang')).toBe('en');
    await poll(attr(page.locator('[data-lang="en"]'), 'aria-pressed')).toBe('true');
  });

  it('writes sizes as the CLI does (KiB, MiB: 1024-based), in both languages', async () => {
    const { page } = await openBrowser();
    await load(page);
    const sizes = [512, 1536, 300 * 1024, 5 * 1024 * 1024 + 100, 3 * 1024 ** 3];
    // As a string: vitest would rewrite a dynamic import() inside a function.
    const inPage = (lang: string) =>
      page.evaluate<string[]>(`import('/i18n.js').then((i18n) => {
        i18n.setLang(${JSON.stringify(lang)});
        return ${JSON.stringify(sizes)}.map((bytes) => i18n.formatBytes(bytes));
      })`);
    expect(await inPage('en')).toEqual(sizes.map((bytes) => formatBytes(bytes)));
    expect(await inPage('zh-CN')).toEqual(sizes.map((bytes) => formatBytes(bytes)));
  });

  it('on a phone, a long repository name wraps after a "/", not inside a name', async () => {
    const repo = 'https://github.com/organisation/repositoryname';
    const { page } = await openBrowser({ viewport: { width: 360, height: 740 } });
    // A finished job from an earlier visit, as the page keeps them: nothing is fetched for it.
    await page.addInitScript((job) => localStorage.setItem('ferry.jobs.v1', JSON.stringify([job])), {
      jobId: 'phone-title-000000000001',
      kind: 'archive',
      status: 'error',
      repo,
      ref: 'main',
      commit: 'a'.repeat(40),
      format: 'zip',
      createdAt: Date.now(),
      updatedAt: Date.now(),
      finishedAt: Date.now(),
      error: { code: 'REPO_NOT_FOUND', message: 'Repository not found.' },
      input: repo,
      inputRef: '',
    });
    await load(page);
    const title = page.locator('.job-repo');
    await poll(text(title)).toBe('organisation/repositoryname');
    // The line each character sits on (its box's top), gathered per "/"-separated name.
    const names = await title.evaluate((el) => {
      const words: { word: string; lines: Set<number> }[] = [{ word: '', lines: new Set() }];
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const data = (node as Text).data;
        for (let i = 0; i < data.length; i++) {
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          const word = words[words.length - 1]!;
          word.word += data[i];
          word.lines.add(Math.round(range.getBoundingClientRect().top));
          if (data[i] === '/') words.push({ word: '', lines: new Set() });
        }
      }
      return words.map(({ word, lines }) => ({ word, lines: [...lines] }));
    });
    // The title does need two lines at this width, and each name keeps to one of them.
    expect(new Set(names.flatMap((name) => name.lines)).size, JSON.stringify(names)).toBe(2);
    for (const name of names) expect(name.lines, name.word).toHaveLength(1);
    await page.screenshot({ path: path.join(ARTIFACTS, 'web-phone-title.png') });
  });

  it('resumes watching a running job after a reload', async () => {
    const { page } = await openBrowser();
    await load(page);
    await page.fill('#url', `${slowGit.url}/fixtures/basic`);
    await page.click('label[for="format-tgz"]');
    await page.click('#submit');
    const card = page.locator('.job').first();
    await card.locator('[data-step="fetching"][aria-current="step"]').waitFor({ timeout: 30_000 });
    const jobId = await card.getAttribute('data-job-id');
    expect(jobId).toBeTruthy();

    const resumed = page.waitForRequest((req) => req.url().endsWith(`/jobs/${jobId}`) && req.method() === 'GET');
    await page.reload();
    // Straight from localStorage, still running, then brought up to date with GET /jobs/:id.
    const again = page.locator(`.job[data-job-id="${jobId}"]`);
    await poll(attr(again, 'data-status')).toMatch(/queued|running/);
    await resumed;
    await poll(attr(again, 'data-status'), 60_000).toBe('done');
    await poll(text(again.locator('.download-label'))).toContain('.tar.gz');
    await poll(text(again.locator('.sha'))).toMatch(/^[0-9a-f]{64}$/);
  });

  it('shows a reconnecting state when the websocket is lost and recovers', async () => {
    const routes: WebSocketRoute[] = [];
    const { page } = await openBrowser({
      routeWebSocket: (route) => {
        route.connectToServer();
        routes.push(route);
      },
    });
    await load(page);
    await page.fill('#url', `${slowGit.url}/fixtures/basic`);
    await page.fill('#ref', 'feature/x');
    await page.click('#submit');
    const card = page.locator('.job').first();
    await card.locator('[data-step="fetching"][aria-current="step"]').waitFor({ timeout: 30_000 });

    // The gateway says the connection's lifetime is over (CR) and the socket goes away.
    const first = routes.at(-1) as WebSocketRoute;
    first.send('CR');
    await first.close({ code: 1000, reason: 'connection lifetime reached' });
    await poll(attr(page.locator('#link'), 'data-state')).toMatch(/reconnecting|online/);
    await page.locator('#link[data-state="online"]').waitFor({ timeout: 20_000 });
    expect(routes.length).toBeGreaterThanOrEqual(2);

    // A plain drop: the banner shows while reconnecting, and the job still finishes on the page.
    const second = routes.at(-1) as WebSocketRoute;
    await second.close({ code: 4000, reason: 'dropped' });
    await page.locator('#banner').waitFor({ state: 'visible' });
    await poll(attr(page.locator('#link'), 'data-state')).toBe('reconnecting');
    await page.locator('#link[data-state="online"]').waitFor({ timeout: 20_000 });
    await page.locator('#banner').waitFor({ state: 'hidden' });
    await poll(attr(card, 'data-status'), 60_000).toBe('done');
  });
  it('runs from a page hosted on another origin when the operator names the gateway', async () => {
    // As on an OSS static website or CDN: the site npm run package writes (the page and the protocol
    // modules it imports), index.html edited at deploy time.
    const webDir = await mkdtemp(path.join(tmpdir(), 'ferry-site-'));
    const bundle = await writeWebBundle(ROOT, webDir);
    expect(bundle.files).toEqual(expect.arrayContaining(['index.html', 'app.js', 'protocol/gateway-session.js', 'protocol/job.js', 'util/bytes.js']));
    const gatewayOrigin = new URL(stack.api).origin;
    const wsOrigin = new URL(stack.gateway).origin;
    const index = (await readFile(path.join(webDir, 'index.html'), 'utf8'))
      .replace('<meta name="ferry-gateway" content="">', `<meta name="ferry-gateway" content="${stack.gateway}/">`)
      .replace("connect-src 'self'", `connect-src 'self' ${gatewayOrigin} ${wsOrigin}`);
    expect(index).toContain(`content="${stack.gateway}/"`);
    siteHandler = (req, res) => {
      const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : path.posix.normalize((req.url ?? '').split('?')[0] ?? '').replace(/^\/+/, '');
      const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
      if (name === 'index.html') return res.writeHead(200, { 'content-type': 'text/html' }).end(index);
      readFile(path.join(webDir, name)).then(
        (body) => res.writeHead(200, { 'content-type': types[path.extname(name)] ?? 'application/octet-stream' }).end(body),
        () => res.writeHead(404).end(),
      );
    };
    try {
      const { page } = await openBrowser();
      const address = site.address() as { port: number };
      await page.goto(`http://127.0.0.1:${address.port}/`);
      await page.waitForSelector('#link[data-state="online"]', { timeout: 15_000 });
      await page.fill('#url', `${git.url}/fixtures/basic`);
      await page.fill('#ref', 'release');
      await page.click('#submit');
      const card = page.locator('.job').first();
      await card.locator('.download').waitFor({ state: 'visible', timeout: 30_000 });
      expect(await card.locator('.download').getAttribute('href')).toContain(new URL(stack.oss).host);
    } finally {
      await rm(webDir, { recursive: true, force: true });
    }
  });

  it('waits for a job whose instance was reclaimed, and submits again when the instance refuses it, in both languages', async () => {
    // Between the page and the real gateway: the first POST /jobs is refused as on an instance that
    // is shutting down, and right after the job's first `fetching` push comes a WORKER_STOPPING that
    // says `retrying`, as when FC delivers the job again; the real pushes after it are held back
    // until the page has been checked, then let through so the job finishes.
    const frame = (text: string | Buffer): Record<string, unknown> | undefined => {
      try {
        return typeof text === 'string' && text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    };
    let posts = 0;
    let injected = false;
    let hold = true;
    const held: { route: WebSocketRoute; message: string }[] = [];
    const { page } = await openBrowser({
      routeWebSocket: (route) => {
        const server = route.connectToServer();
        route.onMessage((message) => {
          const request = frame(message);
          if (request?.method === 'POST' && request.path === '/jobs' && ++posts === 1) {
            const seq = (request.headers as Record<string, string[]>)['x-ca-seq']?.[0] ?? '';
            const body = { code: 'WORKER_STOPPING', message: 'This worker instance is shutting down and takes no new jobs.' };
            route.send(JSON.stringify({ status: 503, header: { 'x-ca-seq': seq, 'retry-after': '1', 'content-type': 'application/json' }, body: JSON.stringify(body), isBase64: 0 }));
            return;
          }
          server.send(message);
        });
        server.onMessage((message) => {
          if (typeof message !== 'string' || !message.startsWith('NF#')) return route.send(message);
          if (injected && hold) return void held.push({ route, message });
          route.send(message);
          const push = JSON.parse(message.slice(3)) as { jobId: string; type: string; phase?: string };
          if (!injected && push.type === 'progress' && push.phase === 'fetching') {
            injected = true;
            const stopped = { v: 1, type: 'error', jobId: push.jobId, code: 'WORKER_STOPPING', retrying: true, message: 'The worker instance running this job is shutting down and stopped it; Function Compute retries the job on another instance.' };
            route.send(`NF#${JSON.stringify(stopped)}`);
          }
        });
      },
    });
    await load(page);
    await page.fill('#url', `${slowGit.url}/fixtures/basic`);
    await page.fill('#ref', 'release');
    await page.click('label[for="format-tgz"]');
    await page.click('#submit');

    const card = page.locator('.job').first();
    await poll(text(card.locator('.progress-message')), 30_000).toBe('The server instance running this job stopped; waiting for the job to be retried on another one.');
    expect(posts).toBe(2);
    await expect(page.locator('#form-error').isHidden()).resolves.toBe(true);
    await poll(attr(card, 'data-status')).toBe('queued');
    await poll(text(card.locator('.badge'))).toBe('Queued');
    await card.locator('.failure').waitFor({ state: 'hidden' });
    await page.click('[data-lang="zh-CN"]');
    await poll(text(card.locator('.progress-message'))).toBe('运行该任务的服务实例已停止，正在等待任务在另一个实例上重试。');
    await page.click('[data-lang="en"]');

    // The job goes on (here: the same run, as another instance's would): its pushes finish it.
    hold = false;
    for (const { route, message } of held.splice(0)) route.send(message);
    await poll(attr(card, 'data-status'), 60_000).toBe('done');
    await poll(text(card.locator('.progress-message'))).toBe('');
    await poll(text(card.locator('.download-label'))).toContain('.tar.gz');
  });
});
