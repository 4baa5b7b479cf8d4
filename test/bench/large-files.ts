// The large artifacts of the link and files sections (test/fixtures/make-large-files.sh), and a plain
// HTTP server for one file: what `curl` downloads on the native side, as GitHub's release host would serve it.
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gitEnv } from '../helpers/fixtures.js';
import { ROOT } from '../helpers/worker-process.js';

const execFileAsync = promisify(execFile);

/**
 * Builds test/.fixtures/large/link.git once (a few seconds; the script exits at once when it exists) and
 * returns the fixtures root. Only the bench builds it.
 */
export async function largeRoot(): Promise<string> {
  const root = join(ROOT, 'test/.fixtures');
  await execFileAsync('bash', [join(ROOT, 'test/fixtures/make-large-files.sh'), root], { env: gitEnv(), timeout: 5 * 60_000 });
  return root;
}

export interface FileServer {
  /** http://127.0.0.1:<port>/<name> */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serves `path` as `/<name>` with its Content-Length and nothing else (no ranges, no validators). */
export async function serveFile(path: string, name: string): Promise<FileServer> {
  const { size } = await stat(path);
  const server = createServer((req, res) => {
    if (req.url !== `/${name}` || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path, { highWaterMark: 256 * 1024 }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
