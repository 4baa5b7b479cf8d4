import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

type Interfaces = ReturnType<typeof networkInterfaces>;

const WILDCARDS = new Set(['0.0.0.0', '::', '[::]']);
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isWildcardHost(host: string): boolean {
  return WILDCARDS.has(host);
}

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The machine's first non-internal IPv4 address, if it has one. */
export function firstExternalIPv4(interfaces: Interfaces = networkInterfaces()): string | undefined {
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return undefined;
}

/**
 * The host that links and printed addresses name, for a stack listening on `bindHost`: the one the user
 * gave (`--public-host`), else the listening address itself, else (listening on every interface) the
 * machine's first non-internal IPv4 address; loopback only on a machine without a network.
 */
export function reachableHost(bindHost: string, publicHost?: string, interfaces?: Interfaces): string {
  if (publicHost) return publicHost;
  if (!isWildcardHost(bindHost)) return bindHost;
  return firstExternalIPv4(interfaces) ?? '127.0.0.1';
}

/** `host:port`, with an IPv6 address in brackets as URLs need it. */
export function authority(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
