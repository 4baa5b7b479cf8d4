// A real git smart-HTTP server for tests: node:http in front of the `git http-backend` CGI.
// URLs are shaped like GitHub's: /owner/repo/... and /owner/repo.git/... both serve <root>/owner/repo.git.
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { allowTestDestination } from './destinations.js';

export interface GitServerOptions {
  /** Folder holding bare repositories as `<owner>/<repo>.git`. */
  root: string;
  /** Called for every request before it is served, e.g. to count `git-upload-pack` calls by `req.url`. */
  onRequest?: (req: IncomingMessage) => void;
  /** Waits this long before serving each request: a slow link, so jobs last long enough to interrupt. */
  delayMs?: number;
  /**
   * Called for every request; a function it returns is given the response body's bytes as they are
   * sent (after the CGI headers), e.g. to read the pack a fetch was served (test/worker/_served-packs.ts).
   */
  tapResponse?: (req: IncomingMessage) => ((chunk: Buffer) => void) | undefined;
  /** The loopback address to listen on (default 127.0.0.1; the SSRF tests use 127.0.0.2 too) and the port (default 0). */
  address?: string;
  port?: number;
  /**
   * Private repositories: every repository of `owner` answers 401 (as GitHub does over smart HTTP) unless the
   * request carries HTTP basic auth whose password is `password` (any user name, as GitHub takes tokens).
   */
  auth?: { owner: string; password: string };
  /** Called with every Authorization header received (tests check that the token arrived only where it should). */
  onAuthorization?: (value: string) => void;
}

export interface GitServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `127.0.0.1:PORT` */
  host: string;
  root: string;
  /** Requests received so far (all paths, including 404s). */
  readonly requests: number;
  close(): Promise<void>;
}

// Server-side settings GitHub also has: partial clone filters and fetching a commit by id.
const serverConfig: Record<string, string> = {
  'uploadpack.allowFilter': 'true',
  'uploadpack.allowAnySHA1InWant': 'true',
};

const segmentPattern = /^[A-Za-z0-9._-]+$/;

export async function startGitServer(options: GitServerOptions): Promise<GitServer> {
  const root = path.resolve(options.root);
  const address = options.address ?? '127.0.0.1';
  const children = new Set<ChildProcess>();
  let requests = 0;

  const server = createServer((req, res) => {
    requests++;
    options.onRequest?.(req);
    const delayed = options.delayMs ? new Promise<void>((resolve) => setTimeout(resolve, options.delayMs)) : Promise.resolve();
    delayed.then(() => serve(req, res)).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, `git-server: ${String(error)}\n`);
      else res.destroy();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://git-server.invalid');
    const route = parseRoute(url.pathname);
    if (!route) return send(res, 404, 'Not Found\n');
    const repoDir = path.join(root, route.owner, `${route.repo}.git`);
    const authorization = req.headers.authorization;
    if (authorization !== undefined) options.onAuthorization?.(authorization);
    if (options.auth && route.owner === options.auth.owner) {
      const password = /^Basic (.+)$/i.exec(authorization ?? '')?.[1];
      const given = password === undefined ? undefined : Buffer.from(password, 'base64').toString('utf8').split(':').slice(1).join(':');
      if (given !== options.auth.password) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git-server"', 'content-type': 'text/plain' });
        return void res.end('Authentication required\n');
      }
    }
    if (!(await isRepository(repoDir))) return send(res, 404, 'Repository not found.\n');

    const child = spawn('git', ['http-backend'], {
      env: cgiEnv(req, root, `/${route.owner}/${route.repo}.git${route.rest}`, url.search.slice(1)),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.add(child);
    child.on('close', () => children.delete(child));

    // A client that hangs up mid-response must not leave upload-pack running.
    res.on('close', () => {
      if (!res.writableFinished) child.kill('SIGKILL');
    });
    // http-backend may answer (403, 404) without reading the body; its closed stdin is not our error.
    child.stdin.on('error', () => {});
    req.pipe(child.stdin);

    const stderr: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    relayCgiResponse(child, res, () => Buffer.concat(stderr).toString('utf8'), options.tapResponse?.(req));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, address, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  allowTestDestination(`${address}:${port}`);

  return {
    url: `http://${address}:${port}`,
    host: `${address}:${port}`,
    root,
    get requests() {
      return requests;
    },
    async close() {
      for (const child of children) child.kill('SIGKILL');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

interface Route {
  owner: string;
  repo: string;
  /** Everything after the repository, starting with `/` (e.g. `/info/refs`). */
  rest: string;
}

function parseRoute(pathname: string): Route | undefined {
  let segments: string[];
  try {
    segments = pathname.split('/').slice(1).map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
  const [owner, repoSegment, ...rest] = segments;
  if (owner === undefined || repoSegment === undefined || rest.length === 0) return undefined;
  const repo = repoSegment.endsWith('.git') ? repoSegment.slice(0, -'.git'.length) : repoSegment;
  for (const name of [owner, repo]) {
    if (!segmentPattern.test(name) || name === '.' || name === '..') return undefined;
  }
  // http-backend validates the rest itself (info/refs, git-upload-pack, objects/...); keep `..` out anyway.
  if (rest.some((s) => s === '..' || s.includes('\0'))) return undefined;
  return { owner, repo, rest: `/${rest.join('/')}` };
}

async function isRepository(dir: string): Promise<boolean> {
  try {
    return (await stat(path.join(dir, 'HEAD'))).isFile();
  } catch {
    return false;
  }
}

function cgiEnv(req: IncomingMessage, root: string, pathInfo: string, query: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
    SERVER_SOFTWARE: 'ferry-test-git-server',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: pathInfo,
    QUERY_STRING: query,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
  };
  const configEntries = Object.entries(serverConfig);
  env.GIT_CONFIG_COUNT = String(configEntries.length);
  configEntries.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  const header = (name: string): string | undefined => {
    const value = req.headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const contentType = header('content-type');
  if (contentType !== undefined) env.CONTENT_TYPE = contentType;
  // Chunked bodies have no length; http-backend then reads stdin to EOF.
  const contentLength = header('content-length');
  if (contentLength !== undefined) env.CONTENT_LENGTH = contentLength;
  const encoding = header('content-encoding');
  if (encoding !== undefined) env.HTTP_CONTENT_ENCODING = encoding;
  // Protocol v2 is negotiated through this header, which git expects as GIT_PROTOCOL.
  const protocol = header('git-protocol');
  if (protocol !== undefined) env.GIT_PROTOCOL = protocol;
  return env;
}

/** Parses the CGI header block (`Status:`, headers, blank line), then streams the body through. */
function relayCgiResponse(child: ChildProcess, res: ServerResponse, stderr: () => string, tap?: (chunk: Buffer) => void): void {
  const stdout = child.stdout;
  if (!stdout) throw new Error('http-backend has no stdout');
  let head = Buffer.alloc(0);
  let headersDone = false;

  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const end = headerEnd(head);
    if (!end) return;
    headersDone = true;
    stdout.off('data', onData);
    let status = 200;
    let statusMessage: string | undefined;
    const headers: Record<string, string | string[]> = {};
    for (const line of head.subarray(0, end.index).toString('latin1').split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') {
        const match = /^(\d{3})\s*(.*)$/.exec(value);
        if (match?.[1]) status = Number(match[1]);
        if (match?.[2]) statusMessage = match[2];
        continue;
      }
      const previous = headers[name];
      headers[name] = previous === undefined ? value : [...[previous].flat(), value];
    }
    if (statusMessage === undefined) res.writeHead(status, headers);
    else res.writeHead(status, statusMessage, headers);
    const rest = head.subarray(end.index + end.length);
    tap?.(rest);
    res.write(rest);
    if (tap) stdout.on('data', tap);
    stdout.pipe(res);
  };
  stdout.on('data', onData);

  child.on('close', (code, signal) => {
    if (headersDone || res.headersSent) return;
    const detail = signal ? `signal ${signal}` : `exit code ${String(code)}`;
    send(res, 500, `git http-backend failed (${detail}) without a response\n${stderr()}`);
  });
  child.on('error', (error) => {
    if (!res.headersSent) send(res, 500, `cannot run git http-backend: ${error.message}\n`);
    else res.destroy(error);
  });
}

function headerEnd(buffer: Buffer): { index: number; length: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf === -1 && lf === -1) return undefined;
  if (lf === -1 || (crlf !== -1 && crlf < lf)) return { index: crlf, length: 4 };
  return { index: lf, length: 2 };
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
