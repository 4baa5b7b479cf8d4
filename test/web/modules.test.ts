/**
 * How the page gets the protocol modules it imports: from the local gateway under /protocol/ and /util/
 * (the compiled dist/ files, with the page's headers), and as a static site from writeWebBundle (only the
 * modules the page reaches, none that needs Node). Needs `npm run build`, as `npm test` does first.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeWebBundle } from '../../src/deploy/web-bundle.js';
import { startGateway, type Gateway } from '../../src/local/gateway/index.js';
import { formatBytes } from '../../src/util/bytes.js';
import { ROOT } from '../helpers/worker-process.js';

describe('the gateway serves the compiled protocol modules to the page', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await startGateway({
      apps: [],
      apis: [],
      backend: { invoke: () => Promise.reject(new Error('no backend')) },
      staticDir: path.join(ROOT, 'web'),
      log: () => undefined,
    });
  });
  afterAll(() => gw.close());

  it.each(['/protocol/gateway-session.js', '/protocol/job.js', '/util/bytes.js'])('%s: the built module, as JavaScript, with the page headers', async (url) => {
    const res = await fetch(`${gw.url}${url}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(await readFile(path.join(ROOT, 'dist', url), 'utf8'));
  });

  it.each([
    ['/protocol/gateway-session.js.map', 404],
    ['/protocol/missing.js', 404],
    // Not a module: nothing but .js is served from these folders.
    ['/protocol/..%2f..%2fpackage.json', 404],
    ['/protocol/..%2f..%2fprotocol%2fjob.js', 403],
    ['/util/..%5cbytes.js', 403],
  ])('%s → %i', async (url, status) => {
    expect((await fetch(`${gw.url}${url}`)).status).toBe(status);
  });
});

describe('writeWebBundle', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-web-bundle-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the page and exactly the protocol modules it reaches, none of them needing Node', async () => {
    const { files } = await writeWebBundle(ROOT, path.join(dir, 'site'));
    expect(files).toEqual(expect.arrayContaining(['index.html', 'app.js', 'gateway.js', 'protocol/gateway-session.js', 'protocol/job-messages.js', 'protocol/errors.js', 'util/bytes.js']));
    expect(files).not.toContain('tsconfig.json');
    expect(files.filter((file) => /apigw-signature|_apigw-canonical|fc-signature/.test(file))).toEqual([]);
    for (const file of files.filter((f) => f.endsWith('.js'))) {
      const source = await readFile(path.join(dir, 'site', file), 'utf8');
      expect(source, file).not.toMatch(/from ['"]node:|sourceMappingURL/);
    }
  });

  it('refuses a page that reaches a module needing Node', async () => {
    const project = path.join(dir, 'project');
    await mkdir(path.join(project, 'web'), { recursive: true });
    await mkdir(path.join(project, 'dist', 'protocol'), { recursive: true });
    await writeFile(path.join(project, 'web', 'app.js'), "import { sign } from './protocol/sign.js';\n");
    await writeFile(path.join(project, 'dist', 'protocol', 'sign.js'), "import { createHmac } from 'node:crypto';\nexport const sign = createHmac;\n");
    await expect(writeWebBundle(project, path.join(dir, 'out'))).rejects.toThrow(/protocol\/sign\.js imports node:crypto/);
  });
});

describe('formatBytes, shared by the CLI and the page', () => {
  it.each([
    [512, '512 B'],
    [1536, '1.5 KiB'],
    [300 * 1024, '300 KiB'],
    [5 * 1024 * 1024 + 100, '5.0 MiB'],
    [3 * 1024 ** 3, '3.0 GiB'],
  ])('%i → %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });

  it('writes the digits with the caller’s number format (the page: the reader’s locale)', () => {
    const german = (value: number, digits: number) => new Intl.NumberFormat('de-DE', { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
    expect(formatBytes(1536, german)).toBe('1,5 KiB');
  });
});
