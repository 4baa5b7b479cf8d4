// The decoded path is resolved inside the root and refused if it escapes it (`..`, `%2e%2e`, backslashes,
// NUL); symlinks are not followed out either. `/protocol/*.js` and `/util/*.js` are the compiled modules
// the page imports, with the same checks.
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { safeDecode } from './routes.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

export type StaticResult = 'served' | 'not-found' | 'forbidden';

export type StaticHandler = (rawPath: string, method: string, res: ServerResponse) => Promise<StaticResult>;

/** `dist/` from this file's place in `src/local/gateway/` (tests) as from `dist/local/gateway/` (the CLI). */
const DIST = fileURLToPath(new URL('../../../dist/', import.meta.url));
export const MODULE_MOUNTS: Readonly<Record<string, string>> = { '/protocol/': 'protocol', '/util/': 'util' };

export function createStaticHandler(root: string): StaticHandler {
  // Resolved once; a root that does not exist serves nothing.
  const realRoot = realpath(root).catch(() => undefined);
  const mounts = Object.entries(MODULE_MOUNTS).map(([prefix, dir]) => ({ prefix, root: realpath(resolve(DIST, dir)).catch(() => undefined) }));
  return async (rawPath, method, res) => {
    const mount = mounts.find((m) => rawPath.startsWith(m.prefix));
    if (mount) {
      // Modules only: no source maps or declarations that point back into the sources.
      const moduleRoot = await mount.root;
      if (moduleRoot === undefined || !rawPath.endsWith('.js')) return 'not-found';
      return serveStatic(moduleRoot, rawPath.slice(mount.prefix.length), method, res);
    }
    const resolvedRoot = await realRoot;
    return resolvedRoot === undefined ? 'not-found' : serveStatic(resolvedRoot, rawPath, method, res);
  };
}

async function serveStatic(realRoot: string, rawPath: string, method: string, res: ServerResponse): Promise<StaticResult> {
  const decoded = safeDecode(rawPath);
  if (decoded === undefined || decoded.includes('\0') || decoded.includes('\\')) return 'forbidden';
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return 'forbidden';

  let file = resolve(realRoot, ...segments);
  try {
    if ((await stat(file)).isDirectory()) file = resolve(file, 'index.html');
    file = await realpath(file);
    if (file !== realRoot && !file.startsWith(realRoot + sep)) return 'forbidden';
    const info = await stat(file);
    if (!info.isFile()) return 'not-found';
    res.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
  } catch {
    return 'not-found';
  }
  if (method === 'HEAD') {
    res.end();
    return 'served';
  }
  // A client that hangs up mid-file is not an error; pipeline closes the file either way.
  await pipeline(createReadStream(file), res).catch(() => undefined);
  return 'served';
}
