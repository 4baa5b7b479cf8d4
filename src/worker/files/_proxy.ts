// HTTPS_PROXY / HTTP_PROXY / NO_PROXY for the file kind's requests, read as curl (and so git) reads them.
// Only the embedded stack on a user's machine sets them; FC has direct internet. Through a proxy the proxy
// resolves names, so a `lookup` guard sees only the proxy's address.
import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import { FerryError } from '../../protocol/errors.js';

/** The proxy `target` goes through, or undefined for a direct connection. */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const scheme = target.protocol.slice(0, -1);
  const value = env[`${scheme}_proxy`] || env[`${scheme.toUpperCase()}_PROXY`] || env.all_proxy || env.ALL_PROXY;
  if (!value || bypassed(target, env.no_proxy ?? env.NO_PROXY ?? '')) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    throw new FerryError('UPSTREAM_UNREACHABLE', `The proxy setting "${value.slice(0, 80)}" (HTTPS_PROXY/HTTP_PROXY) is not a URL.`);
  }
  if (proxy.protocol !== 'http:') {
    throw new FerryError('UPSTREAM_UNREACHABLE', `Only http:// proxies are supported for file downloads, got ${proxy.protocol}// in HTTPS_PROXY/HTTP_PROXY.`);
  }
  return proxy;
}

// NO_PROXY: `*`, or names (`example.com` also covers its subdomains, `.example.com` only them), optionally `:port`.
function bypassed(target: URL, noProxy: string): boolean {
  const hostname = target.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((entry) => {
      if (entry === '*') return true;
      const match = /^(.*?)(?::(\d+))?$/.exec(entry.toLowerCase().replace(/^\[|\]$/g, '')) as RegExpExecArray;
      const name = (match[1] as string).replace(/^\*?\./, '');
      if (match[2] !== undefined && match[2] !== port) return false;
      return hostname === name || hostname.endsWith(`.${name}`);
    });
}

/** Headers a request to the proxy carries: its credentials, when its URL has any. */
export function proxyHeaders(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(credentials).toString('base64')}` };
}

/** A socket to `target`'s host and port through the proxy's CONNECT tunnel (TLS goes over it end to end). */
export function tunnel(proxy: URL, target: URL, options: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<Socket> {
  const authority = `${target.hostname}:${target.port || 443}`;
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: proxy.port || 80,
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...proxyHeaders(proxy) },
      agent: false,
      timeout: options.timeoutMs,
      ...(options.signal && { signal: options.signal }),
    });
    request.on('connect', (response, socket) => {
      request.setTimeout(0);
      if (response.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(new FerryError('UPSTREAM_UNREACHABLE', `The proxy ${proxy.host} (HTTPS_PROXY) answered ${response.statusCode ?? '?'} to CONNECT ${authority}: it refused the tunnel. Check the proxy setting.`));
    });
    request.on('timeout', () => request.destroy(new FerryError('UPSTREAM_UNREACHABLE', `The proxy ${proxy.host} (HTTPS_PROXY) did not open a tunnel to ${authority} in time. Try again later.`)));
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof FerryError) return reject(error);
      reject(new FerryError('UPSTREAM_UNREACHABLE', `Could not reach the proxy ${proxy.host} (HTTPS_PROXY): ${error.code ?? error.message}. Check the proxy setting.`, { cause: error }));
    });
    request.end();
  });
}
