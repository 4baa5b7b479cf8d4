// `git ls-remote --symref` without git: one protocol v2 `ls-refs` request over smart HTTP, on a
// pooled keep-alive connection. Anything unusual answers `undefined` and the caller runs git.
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { parseLsRemote, type RemoteRef } from '../../protocol/refs.js';
import type { HttpAgents } from './http-agents.js';

export interface LsRefsOptions {
  /** Deadline for the whole exchange; past it the answer is `undefined` (use git). */
  timeoutMs: number;
  /** Aborting rejects with the signal's reason: an abort is not a reason to try git instead. */
  signal?: AbortSignal | undefined;
  env?: NodeJS.ProcessEnv;
  agents: HttpAgents;
  /** A private repository's Authorization header value (git/access.ts). */
  authorization?: string | undefined;
  /** The SSRF guard's pinned lookup (net/destinations.ts): new connections go to the checked addresses only. */
  lookup?: LookupFunction | undefined;
}

const REQUEST_TYPE = 'application/x-git-upload-pack-request';
const RESULT_TYPE = 'application/x-git-upload-pack-result';
// GitHub (and others) serve smart HTTP only to a User-Agent starting with `git/`.
const USER_AGENT = 'git/2.0 (ferry)';
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy'];
const OID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

// What `parseLsRemote(git ls-remote --symref …)` gives for full ref names, or `undefined`. By design,
// ls-remote's tail match (`refs/x/refs/heads/main`) is not reproduced: `pickRef` reads only prefix matches.
export async function lsRefsV2(fetchUrl: string, patterns: readonly string[], options: LsRefsOptions): Promise<RemoteRef[] | undefined> {
  options.signal?.throwIfAborted();
  // node:http ignores proxy variables: with one set, this path is off and git (the one place for proxies) runs.
  if (usesProxy(options.env)) return undefined;
  const prefixes = [...new Set(patterns.map((p) => p.replace(/\^\{\}$/, '')))];
  // Short names (`main`) need tail matching the server cannot do; wildcards need wildmatch.
  if (prefixes.some((p) => !/^(?:HEAD|refs\/.+)$/.test(p) || /[*?[\\]/.test(p))) return undefined;
  const url = uploadPackUrl(fetchUrl);
  if (!url) return undefined;

  const body = requestBody(prefixes);
  // A pooled connection the server closed just before we reused it fails at once: retry it fresh.
  let response = await post(url, body, options);
  if (response === 'stale') response = await post(url, body, options);
  if (!Buffer.isBuffer(response)) return undefined;
  const lines = parseResponse(response);
  if (!lines) return undefined;
  // ls-remote's own filter, then its own parser: the same entries by construction.
  // A pattern ending in `/` is a namespace (`refs/tags/`): a prefix match, as the server applied it.
  const matches = (name: string): boolean =>
    patterns.length === 0 || patterns.some((p) => (p.endsWith('/') ? name.startsWith(p) : name === p || name.endsWith(`/${p}`)));
  return parseLsRemote(lines.filter((line) => matches(line.slice(line.indexOf('\t') + 1))).join('\n'));
}

/** node:http ignores proxy variables: with one set, the in-process requests are off and git runs. */
export function usesProxy(env: NodeJS.ProcessEnv = process.env): boolean {
  return PROXY_VARIABLES.some((name) => env[name]);
}

export function uploadPackUrl(fetchUrl: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(fetchUrl);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) return undefined;
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/git-upload-pack`;
  return url;
}

/** `command=ls-refs`, no capabilities (object-format only if advertised, and we skip the advertisement). */
function requestBody(prefixes: readonly string[]): Buffer {
  const lines = ['symrefs', 'peel', ...prefixes.map((p) => `ref-prefix ${p}`)];
  return Buffer.concat([pktLine('command=ls-refs\n'), Buffer.from('0001'), ...lines.map((l) => pktLine(`${l}\n`)), Buffer.from('0000')]);
}

export function pktLine(text: string): Buffer {
  const payload = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from((payload.length + 4).toString(16).padStart(4, '0')), payload]);
}

/** The response body; `'stale'` when a reused connection failed before answering; `undefined` otherwise. */
export function post(url: URL, body: Buffer, options: LsRefsOptions): Promise<Buffer | 'stale' | undefined> {
  const agent = options.agents.agentFor(url.protocol);
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: 'POST',
      agent,
      ...(options.lookup && { lookup: options.lookup }),
      headers: {
        'Content-Type': REQUEST_TYPE,
        Accept: RESULT_TYPE,
        'Git-Protocol': 'version=2',
        'User-Agent': USER_AGENT,
        'Content-Length': body.length,
        ...(options.authorization && { Authorization: options.authorization }),
      },
    });
    let responded = false;
    let settled = false;
    const settle = (value: Buffer | 'stale' | undefined, error?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve(value);
      else reject(error);
    };
    // Give up (and close the connection, so it is not pooled) on a slow, odd or oversized answer.
    const giveUp = (): void => {
      request.destroy();
      settle(undefined);
    };
    const timer = setTimeout(giveUp, options.timeoutMs);
    const onAbort = (): void => {
      request.destroy();
      settle(undefined, options.signal?.reason ?? new Error('aborted'));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });

    request.on('error', (error: NodeJS.ErrnoException) => {
      settle(!responded && request.reusedSocket && error.code === 'ECONNRESET' ? 'stale' : undefined);
    });
    request.on('response', (response) => {
      responded = true;
      const type = response.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
      const encoding = response.headers['content-encoding'];
      // No redirects (git runs with http.followRedirects=false), no error pages, no compression.
      if (response.statusCode !== 200 || type !== RESULT_TYPE || (encoding && encoding !== 'identity')) return giveUp();
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) return giveUp();
        chunks.push(chunk);
      });
      response.on('end', () => settle(Buffer.concat(chunks)));
      response.on('error', () => settle(undefined));
      response.on('close', () => settle(undefined)); // cut short; after 'end' a no-op
    });
    request.end(body);
  });
}

// `undefined` unless the body is exactly well-formed pkt-lines ending in a flush-pkt.
function parseResponse(body: Buffer): string[] | undefined {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const lines: string[] = [];
  let offset = 0;
  for (;;) {
    const header = body.toString('latin1', offset, offset + 4);
    if (!/^[0-9a-f]{4}$/i.test(header)) return undefined;
    const length = Number.parseInt(header, 16);
    if (length === 0) return offset + 4 === body.length ? lines : undefined;
    // 0001-0004 (delim, response-end, empty) have no place in an ls-refs answer.
    if (length <= 4 || offset + length > body.length) return undefined;
    let text: string;
    try {
      text = decoder.decode(body.subarray(offset + 4, offset + length));
    } catch {
      return undefined;
    }
    const refLines = printedLines(text.endsWith('\n') ? text.slice(0, -1) : text);
    if (!refLines) return undefined;
    lines.push(...refLines);
    offset += length;
  }
}

/** `<oid> <name>[ symref-target:<ref>][ peeled:<oid>]`; an `ERR` line or anything unknown is `undefined`. */
function printedLines(line: string): string[] | undefined {
  const [oid, name, ...attributes] = line.split(' ');
  // eslint-disable-next-line no-control-regex
  const plain = (value: string): boolean => value !== '' && !/[\u0000-\u001f\u007f]/.test(value);
  if (oid === undefined || !OID.test(oid) || name === undefined || !plain(name)) return undefined;
  let symref: string | undefined;
  let peeled: string | undefined;
  for (const attribute of attributes) {
    if (attribute.startsWith('symref-target:') && symref === undefined) symref = attribute.slice('symref-target:'.length);
    else if (attribute.startsWith('peeled:') && peeled === undefined) peeled = attribute.slice('peeled:'.length);
    else return undefined;
  }
  if ((symref !== undefined && !plain(symref)) || (peeled !== undefined && !OID.test(peeled))) return undefined;
  return [
    ...(symref === undefined ? [] : [`ref: ${symref}\t${name}`]),
    `${oid}\t${name}`,
    ...(peeled === undefined ? [] : [`${peeled}\t${name}^{}`]),
  ];
}
