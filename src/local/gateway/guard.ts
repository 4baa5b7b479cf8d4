// A loopback `ferry serve` is reachable from every web page its user opens. A cross-site form post needs no
// preflight, so only a JSON content type keeps it from submitting jobs; a page on a name that re-resolves to
// loopback (DNS rebinding) is same-origin to the browser, so only the Host header tells it apart.
import { isIP } from 'node:net';
import { randomUUID } from 'node:crypto';
import { FerryError, type WorkerErrorCode } from '../../protocol/errors.js';
import type { GatewayResponse } from './types.js';

export interface HostPolicyOptions {
  /** The address the gateway listens on. */
  host: string;
  /** The name users reach it by, when not the listening address (`--public-host`). */
  publicHost?: string | undefined;
  /** Origins of the page hosted elsewhere (a static site naming this gateway), allowed besides the gateway's own. */
  allowedOrigins?: readonly string[] | undefined;
}

export interface HostPolicy {
  /** Whether a request's Host header names this gateway. */
  serves(hostHeader: string | undefined): boolean;
  /** Whether an Origin header is the page's: the origin the request was sent to, or one the operator allowed. */
  allowsOrigin(origin: string, hostHeader: string | undefined): boolean;
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];

export function createHostPolicy(options: HostPolicyOptions): HostPolicy {
  const allowed = new Set((options.allowedOrigins ?? []).map(pageOrigin));
  const names = new Set([...LOOPBACK_NAMES, hostname(options.host), ...(options.publicHost ? [hostname(options.publicHost)] : [])]);
  return {
    serves(hostHeader) {
      // HTTP/1.0 clients may omit it; no browser does.
      if (hostHeader === undefined) return true;
      const name = hostnameOf(hostHeader);
      if (name === undefined) return false;
      // Rebinding needs a DNS name: a browser sends an address literal only for a URL that names the address.
      return names.has(name) || isIP(name.replace(/^\[|\]$/g, '')) !== 0;
    },
    allowsOrigin(origin, hostHeader) {
      if (allowed.has(origin)) return true;
      if (hostHeader === undefined) return false;
      try {
        const url = new URL(origin);
        return (url.protocol === 'http:' || url.protocol === 'https:') && url.host === new URL(`http://${hostHeader}`).host;
      } catch {
        return false; // `null` (a sandboxed frame, a file:// page) or garbage
      }
    },
  };
}

/** A request's refusal before its body is read, or undefined when it may go on. */
export function screen(policy: HostPolicy, method: string, headers: Record<string, string | string[] | undefined>): GatewayResponse | undefined {
  const host = single(headers.host);
  if (!policy.serves(host)) {
    return jsonError('HOST_NOT_SERVED', `This gateway does not serve the host ${JSON.stringify(host)}: use its own address (localhost, the --host or --public-host of ferry serve).`);
  }
  const origin = single(headers.origin);
  if (origin !== undefined && method !== 'GET' && method !== 'HEAD' && !policy.allowsOrigin(origin, host)) {
    return jsonError('ORIGIN_NOT_ALLOWED', `Requests from the page at ${JSON.stringify(origin)} are refused: only the gateway's own page may call it from a browser.`);
  }
  if (method === 'POST' && declaresBody(headers) && mediaType(single(headers['content-type'])) !== 'application/json') {
    return jsonError('UNSUPPORTED_MEDIA_TYPE', `Send the body as JSON with the header Content-Type: application/json (got ${JSON.stringify(single(headers['content-type']) ?? 'none')}).`);
  }
  return undefined;
}

/** CORS headers for a request from the page's origin; none for any other. */
export function corsHeaders(policy: HostPolicy, headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const origin = single(headers.origin);
  if (origin === undefined || !policy.allowsOrigin(origin, single(headers.host))) return {};
  return { 'access-control-allow-origin': origin, vary: 'origin' };
}

/** A CORS preflight: allowed for the page's origin (a page hosted elsewhere posts JSON through one), else 403. */
export function preflight(policy: HostPolicy, headers: Record<string, string | string[] | undefined>): GatewayResponse {
  const cors = corsHeaders(policy, headers);
  if (!cors['access-control-allow-origin']) {
    return jsonError('ORIGIN_NOT_ALLOWED', `Requests from the page at ${JSON.stringify(single(headers.origin) ?? 'none')} are refused: only the gateway's own page may call it from a browser.`);
  }
  const requested = single(headers['access-control-request-headers']);
  return {
    status: 204,
    headers: {
      ...cors,
      'access-control-allow-methods': 'GET, POST',
      ...(requested ? { 'access-control-allow-headers': requested } : {}),
      'access-control-max-age': '600',
    },
    body: Buffer.alloc(0),
  };
}

/** The gateway's own refusals as `{code, message}`, like the worker's errors. */
export function jsonError(code: WorkerErrorCode, message: string): GatewayResponse {
  const error = new FerryError(code, message);
  return {
    status: error.status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'x-ca-request-id': randomUUID(), 'x-ca-error-message': message },
    body: Buffer.from(JSON.stringify(error.toJSON())),
  };
}

function pageOrigin(origin: string): string {
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin.replace(/\/$/, '')) {
    throw new TypeError(`Expected an allowed origin like https://ferry.example.com (scheme, host and port only), got ${JSON.stringify(origin)}`);
  }
  return url.origin;
}

function declaresBody(headers: Record<string, string | string[] | undefined>): boolean {
  const length = single(headers['content-length']);
  return headers['transfer-encoding'] !== undefined || headers['content-type'] !== undefined || (length !== undefined && length !== '0');
}

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(';')[0]?.trim().toLowerCase();
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `host[:port]` → the lower-case name, IPv6 in brackets; undefined when it is not a valid authority. */
function hostnameOf(authority: string): string | undefined {
  try {
    const url = new URL(`http://${authority}`);
    return url.username || url.password || url.pathname !== '/' ? undefined : url.hostname;
  } catch {
    return undefined;
  }
}

function hostname(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host.toLowerCase();
}
