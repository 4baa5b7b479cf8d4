// The SSRF guard: every connection the worker makes on a user's behalf (git's and node's, each redirect hop)
// first asks `pin(url)`. The name is resolved once, every address it resolves to is checked (one forbidden
// address refuses the lot: a name that mixes public and internal answers is an attack, not a mistake), and the
// connection is then held to exactly the checked addresses (`lookup` for node, CURLOPT_RESOLVE for git), so
// a second DNS answer cannot send it elsewhere.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { FerryError } from '../../protocol/errors.js';
import { describeCause } from '../upstream-cause.js';
import { classifyAddress, describeRange } from './address.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Every address a name resolves to, in the resolver's order. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

/** Where a connection may go: `addresses` empty means nothing to pin (an IP literal, or a name left to a proxy). */
export interface Pin {
  hostname: string;
  port: number;
  addresses: ResolvedAddress[];
  /** node's `lookup` answering only `addresses`; undefined when there is nothing to pin. */
  lookup: LookupFunction | undefined;
  /** `host:port:addr[,addr]` for git's `http.curloptResolve`; undefined when there is nothing to pin. */
  curlResolve: string | undefined;
}

export interface PinOptions {
  /**
   * The connection goes through the operator's HTTP(S) proxy, which resolves the name itself. The name is still
   * checked here when it resolves here; one that does not is left to the proxy (a host only the proxy can reach).
   */
  viaProxy?: boolean;
}

export interface DestinationGuard {
  /** Resolves and checks `url`'s host; throws DESTINATION_FORBIDDEN, or UPSTREAM_UNREACHABLE when the name does not resolve. */
  pin(url: URL, options?: PinOptions): Promise<Pin>;
}

export interface DestinationGuardOptions {
  /**
   * FERRY_ALLOWED_DESTINATIONS: exact `host:port` entries. A name's entry lets it resolve to anything; an
   * address's entry lets any name that resolves to it through. Read at each check (a few entries), so a test
   * can add the servers it starts later.
   */
  allowed?: readonly string[];
  /** dns.lookup (all addresses) by default; tests pass their own to answer what a hostile DNS would. */
  resolve?: Resolver;
}

export function createDestinationGuard(options: DestinationGuardOptions = {}): DestinationGuard {
  const resolve = options.resolve ?? systemResolver;
  return {
    async pin(url, pinOptions = {}) {
      const allowed = new Set((options.allowed ?? []).map(parseDestination));
      const hostname = normalHost(url.hostname);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const named = allowed.has(key(hostname, port));
      const literal = isIP(hostname) !== 0;
      if (literal) {
        const verdict = classifyAddress(hostname);
        if (!named && !verdict.allowed) throw forbidden(url, hostname, port, `is ${describeRange(verdict.range)}`);
        return { hostname, port, addresses: [], lookup: undefined, curlResolve: undefined };
      }
      let addresses: ResolvedAddress[];
      try {
        addresses = await resolve(hostname);
        if (addresses.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' });
      } catch (error) {
        if (pinOptions.viaProxy) return { hostname, port, addresses: [], lookup: undefined, curlResolve: undefined };
        throw unresolved(url, hostname, error);
      }
      if (!named) {
        const refused = addresses.find(({ address }) => !allowed.has(key(normalHost(address), port)) && !classifyAddress(address).allowed);
        if (refused) throw forbidden(url, hostname, port, 'resolves to an internal or reserved address (loopback, private, link-local, metadata and the like)');
      }
      return { hostname, port, addresses, lookup: pinnedLookup(hostname, addresses), curlResolve: curlResolve(hostname, port, addresses) };
    },
  };
}

/** `host:port` → the set key; throws on anything else, for the config's message. */
export function parseDestination(entry: string): string {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]\s]+):(\d{1,5})$/i.exec(entry.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new Error(`expected host:port (such as git.internal:443 or [fd00::1]:8080), got ${JSON.stringify(entry)}`);
  return key(normalHost(match[1] as string), port);
}

/** Lower case, no brackets, and one spelling per address (URL's parser already writes IPv4 as dotted quads). */
function normalHost(host: string): string {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (isIP(bare) !== 6) return bare;
  return new URL(`http://[${bare}]/`).hostname.replace(/^\[|\]$/g, '');
}

function key(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

function pinnedLookup(hostname: string, addresses: readonly ResolvedAddress[]): LookupFunction {
  return (asked, lookupOptions, callback) => {
    // Only ever asked for the name it was made for; anything else is a bug, not a reason to resolve.
    if (normalHost(asked) !== hostname) {
      callback(Object.assign(new Error(`${asked} is not the checked destination ${hostname}`), { code: 'ENOTFOUND' }), '', 4);
      return;
    }
    const family = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : undefined;
    const usable = addresses.filter((a) => family === undefined || a.family === family);
    const first = usable[0];
    if (!first) {
      callback(Object.assign(new Error(`${hostname} has no checked IPv${family} address`), { code: 'ENOTFOUND' }), '', 4);
      return;
    }
    if (lookupOptions.all) (callback as unknown as (error: null, all: ResolvedAddress[]) => void)(null, usable);
    else callback(null, first.address, first.family);
  };
}

function curlResolve(hostname: string, port: number, addresses: readonly ResolvedAddress[]): string {
  return `${hostname}:${port}:${addresses.map(({ address, family }) => (family === 6 ? `[${address}]` : address)).join(',')}`;
}

function forbidden(url: URL, hostname: string, port: number, why: string): FerryError {
  return new FerryError(
    'DESTINATION_FORBIDDEN',
    `ferry does not connect to ${url.host}: it ${why}. An operator who means it allows this exact destination by adding ${key(hostname, port)} to FERRY_ALLOWED_DESTINATIONS.`,
  );
}

function unresolved(url: URL, hostname: string, error: unknown): FerryError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const cause = code === 'EAI_AGAIN' ? { kind: 'dns-busy' as const, name: hostname } : { kind: 'dns' as const, name: hostname };
  return new FerryError('UPSTREAM_UNREACHABLE', describeCause(cause, url.host), { cause: error });
}
