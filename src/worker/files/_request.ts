// One upstream GET, its redirects followed hop by hop so that the host policy sees every host before a
// socket is opened to it. node:http rather than fetch: fetch follows redirects by itself (or not at all)
// and takes no `lookup`, which is where the SSRF guard (net/destinations.ts) pins each hop's connection.
import { get as httpGet, type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { get as httpsGet } from 'node:https';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { proxyFor, proxyHeaders, tunnel } from './_proxy.js';
import { FerryError } from '../../protocol/errors.js';
import { describeCause, type UpstreamCause } from '../upstream-cause.js';
import type { DestinationGuard, Pin } from '../net/destinations.js';

export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export interface HopOptions {
  checkUrl: (url: URL) => void;
  idleTimeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Every hop's destination is checked and its connection pinned to the checked addresses. */
  destinations: DestinationGuard;
  /** Where HTTPS_PROXY / HTTP_PROXY / NO_PROXY are read; process.env by default. */
  env?: NodeJS.ProcessEnv | undefined;
}

export interface Answer {
  response: IncomingMessage;
  /** Where the answer came from, after every redirect. */
  url: URL;
}

/** Failed before or while the bytes flowed (DNS, refused, reset, TLS, stalled): the kind a resume may cure. */
export class ConnectionFailed extends FerryError {
  constructor(message: string, cause: unknown) {
    super('UPSTREAM_UNREACHABLE', message, { cause });
  }
}

export async function getFollowingRedirects(start: URL, headers: OutgoingHttpHeaders, options: HopOptions): Promise<Answer> {
  let url = start;
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new FerryError('UPSTREAM_UNREACHABLE', `${start.href} redirected to a ${url.protocol} address, which ferry does not follow.`);
    }
    if (url.username || url.password) {
      throw new FerryError('UPSTREAM_UNREACHABLE', `${start.href} redirected to an address with credentials in it, which ferry does not follow.`);
    }
    options.checkUrl(url);
    const response = await getOnce(url, headers, options);
    const location = response.headers.location;
    if (!REDIRECTS.has(response.statusCode ?? 0) || !location) return { response, url };
    response.resume();
    if (hop === MAX_REDIRECTS) {
      throw new FerryError('UPSTREAM_UNREACHABLE', `${start.href} redirected more than ${MAX_REDIRECTS} times; ferry stopped at ${url.href}.`);
    }
    try {
      url = new URL(location, url);
    } catch (error) {
      throw new FerryError('UPSTREAM_UNREACHABLE', `${url.href} redirected to "${location}", which is not a URL.`, { cause: error });
    }
    url.hash = '';
  }
}

/** Resolves with the response head; the socket may idle `idleTimeoutMs` before it (the body has its own watch). */
async function getOnce(url: URL, headers: OutgoingHttpHeaders, options: HopOptions): Promise<IncomingMessage> {
  const proxy = proxyFor(url, options.env ?? process.env);
  const pin = await pinHop(url, options.destinations, proxy !== undefined);
  const common = {
    timeout: options.idleTimeoutMs,
    ...(options.signal && { signal: options.signal }),
  };
  let start: (callback: (response: IncomingMessage) => void) => ClientRequest;
  if (!proxy) {
    const get = url.protocol === 'https:' ? httpsGet : httpGet;
    // No pooled agent: every connection goes through `lookup`, and nothing stays open after a job.
    start = (callback) => get(url, { ...common, headers, agent: false, ...(pin.lookup && { lookup: pin.lookup }) }, callback);
  } else if (url.protocol === 'https:') {
    const socket = await tunnel(proxy, url, { timeoutMs: options.idleTimeoutMs, signal: options.signal });
    const servername = isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname;
    // No agent and a connection of our own: TLS with the upstream, end to end, inside the tunnel.
    start = (callback) => httpsGet(url, { ...common, headers, createConnection: () => tlsConnect({ socket, ...(servername && { servername }) }) }, callback);
  } else {
    // Plain http goes to the proxy in absolute form, as curl sends it.
    const target = { host: proxy.hostname.replace(/^\[|\]$/g, ''), port: proxy.port || 80, path: url.href };
    start = (callback) => httpGet({ ...common, ...target, agent: false, headers: { ...headers, host: url.host, ...proxyHeaders(proxy) } }, callback);
  }
  return new Promise((resolve, reject) => {
    const request = start((response) => {
      // From here the body reader watches for stalls: a consumer that is slow to read is not a stalled upstream.
      request.setTimeout(0);
      resolve(response);
    });
    request.on('timeout', () => request.destroy(new StalledError(options.idleTimeoutMs)));
    request.on('error', (error) => reject(connectionFailed(url, error)));
  });
}

/** The guard's DNS failure is a connection failure like any other (a resume may try again). */
async function pinHop(url: URL, destinations: DestinationGuard, viaProxy: boolean): Promise<Pin> {
  try {
    return await destinations.pin(url, { viaProxy });
  } catch (error) {
    if (error instanceof FerryError && error.code === 'UPSTREAM_UNREACHABLE') throw new ConnectionFailed(error.message, error.cause);
    throw error;
  }
}

export class StalledError extends Error {
  constructor(idleTimeoutMs: number) {
    super(`nothing arrived for ${idleTimeoutMs >= 1000 ? `${Math.round(idleTimeoutMs / 1000)} s` : `${idleTimeoutMs} ms`}`);
  }
}

/** The cause, said precisely (upstream-cause.ts, shared with git's errors): "could not resolve x" tells what "unreachable" does not. */
export function connectionFailed(url: URL, error: unknown): FerryError {
  if (error instanceof FerryError) return error;
  const host = url.host;
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const detail = error instanceof Error ? error.message : String(error);
  const cause = ((): UpstreamCause => {
    if (error instanceof StalledError) return { kind: 'reset', detail: `${host} stopped sending: ${detail}` };
    if (code === 'ENOTFOUND') return { kind: 'dns', name: url.hostname };
    if (code === 'EAI_AGAIN') return { kind: 'dns-busy', name: url.hostname };
    if (code === 'ECONNREFUSED') return { kind: 'refused' };
    if (code === 'ECONNRESET' || code === 'EPIPE') return { kind: 'reset', detail: 'connection reset' };
    if (code === 'ETIMEDOUT') return { kind: 'timeout' };
    if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { kind: 'no-route' };
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return { kind: 'tls', detail };
    return { kind: 'other', detail };
  })();
  return new ConnectionFailed(describeCause(cause, host), error);
}

/** An upstream's final answer that is not the file: what it means for someone who pasted the URL. */
export function statusFailed(url: string, response: IncomingMessage): FerryError {
  const status = response.statusCode ?? 0;
  const said = `${url} answered ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`;
  if (status === 404 || status === 410) return new FerryError('NOT_FOUND', `${said}: there is no such file. Check the URL.`);
  if (status === 401 || status === 403) {
    return new FerryError('NOT_FOUND', `${said}: the file is private or needs a login, and ferry fetches public files only.`);
  }
  if (status === 429) return new FerryError('RATE_LIMITED', `${said}: the host limits how often it is asked. Try again later.`);
  if (status >= 500) return new FerryError('UPSTREAM_UNREACHABLE', `${said}: the host failed. Try again later.`);
  return new FerryError('UPSTREAM_UNREACHABLE', `${said}, which is not a file ferry can fetch.`);
}
