import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/protocol/errors.js';
import { loadConfig } from '../../../src/worker/config.js';
import { createDestinationGuard, parseDestination, type ResolvedAddress, type Resolver } from '../../../src/worker/net/destinations.js';

/** A resolver that answers from a table and counts its calls; a name not in it does not resolve. */
function table(answers: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const addresses = answers[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolve, { calls });
}

async function refusal(promise: Promise<unknown>): Promise<FerryError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(FerryError);
  return error as FerryError;
}

describe('the SSRF guard', () => {
  // The WHATWG URL parser turns every spelling of an address into its one form: all are checked without DNS.
  it.each([
    'http://127.0.0.1/x',
    'http://2130706433/x', // decimal
    'http://0177.0.0.1/x', // octal
    'http://0x7f.1/x', // hex, short form
    'http://127.1/x',
    'http://[::1]/x',
    'http://[::ffff:127.0.0.1]/x',
    'http://[::ffff:7f00:1]/x',
    'http://[0:0:0:0:0:ffff:127.0.0.1]/x',
    'http://100.100.100.200/latest/meta-data/',
    'http://1684300999/x', // 100.100.100.199 in decimal
    'http://169.254.169.254/latest/meta-data/',
    'http://0xa9fea9fe/x', // 169.254.169.254 in hex
    'http://[64:ff9b::a9fe:a9fe]/x',
    'http://10.0.0.1/x',
    'http://0.0.0.0/x',
    'http://0/x',
    'http://[::]/x',
    'http://[fd00::1]/x',
    'http://[fe80::1]/x',
    'https://192.168.0.1:8443/x',
  ])('refuses %s without resolving anything', async (url) => {
    const resolve = table({});
    const error = await refusal(createDestinationGuard({ resolve }).pin(new URL(url)));
    expect(error.code).toBe('DESTINATION_FORBIDDEN');
    expect(error.status).toBe(403);
    expect(error.message).toContain(new URL(url).host);
    expect(error.message).toContain('FERRY_ALLOWED_DESTINATIONS');
    expect(resolve.calls).toEqual([]);
  });

  it('lets a public address literal through, with nothing to pin', async () => {
    const pin = await createDestinationGuard({ resolve: table({}) }).pin(new URL('https://140.82.112.3/o/r'));
    expect(pin).toMatchObject({ hostname: '140.82.112.3', port: 443, addresses: [], lookup: undefined, curlResolve: undefined });
  });

  it.each([
    ['127.0.0.1'],
    ['100.100.100.200'],
    ['169.254.169.254'],
    ['::1'],
    ['::ffff:169.254.169.254'],
    ['fd00::1'],
  ])('refuses a name that resolves to %s, saying how to allow it without naming the address', async (address) => {
    const resolve = table({ 'git.example.com': [address] });
    const error = await refusal(createDestinationGuard({ resolve }).pin(new URL('https://git.example.com/o/r')));
    expect(error.code).toBe('DESTINATION_FORBIDDEN');
    expect(error.message).toMatch(/git\.example\.com.*internal or reserved address.*git\.example\.com:443 to FERRY_ALLOWED_DESTINATIONS/);
    expect(error.message).not.toContain(address);
  });

  it('refuses a name when any one of its addresses is forbidden', async () => {
    const resolve = table({ 'mixed.example.com': ['140.82.112.3', '10.0.0.7'] });
    const error = await refusal(createDestinationGuard({ resolve }).pin(new URL('https://mixed.example.com/o/r')));
    expect(error.code).toBe('DESTINATION_FORBIDDEN');
  });

  it('pins a public name to exactly the addresses it checked, for node and for curl', async () => {
    const resolve = table({ 'git.example.com': ['140.82.112.3', '2606:50c0:8000::153'] });
    const pin = await createDestinationGuard({ resolve }).pin(new URL('https://git.example.com/o/r'));
    expect(pin.curlResolve).toBe('git.example.com:443:140.82.112.3,[2606:50c0:8000::153]');
    const lookup = pin.lookup;
    expect(lookup).toBeDefined();
    const all = await new Promise<LookupAddress[]>((done, fail) =>
      lookup?.('git.example.com', { all: true }, ((error: Error | null, addresses: LookupAddress[]) => (error ? fail(error) : done(addresses))) as never),
    );
    expect(all).toEqual([
      { address: '140.82.112.3', family: 4 },
      { address: '2606:50c0:8000::153', family: 6 },
    ]);
    const v6 = await new Promise<[string, number]>((done, fail) => lookup?.('git.example.com', { family: 6 }, (error, address, family) => (error ? fail(error) : done([address as string, family as number]))));
    expect(v6).toEqual(['2606:50c0:8000::153', 6]);
    // Asked for another name, the pinned lookup refuses rather than resolve.
    const other = await new Promise<unknown>((done) => lookup?.('elsewhere.example.com', {}, (error) => done(error)));
    expect(other).toBeInstanceOf(Error);
    expect(resolve.calls).toEqual(['git.example.com']);
  });

  it('lets an exact host:port through when allowed by name, and only that port', async () => {
    const resolve = table({ 'git.internal': ['10.1.2.3'] });
    const guard = createDestinationGuard({ allowed: ['git.internal:443'], resolve });
    const pin = await guard.pin(new URL('https://git.internal/o/r'));
    expect(pin.curlResolve).toBe('git.internal:443:10.1.2.3');
    expect((await refusal(guard.pin(new URL('https://git.internal:8443/o/r')))).code).toBe('DESTINATION_FORBIDDEN');
    expect((await refusal(guard.pin(new URL('http://git.internal/o/r')))).code).toBe('DESTINATION_FORBIDDEN');
  });

  it('lets an exact address:port through, under any name that resolves to it and in any spelling', async () => {
    const resolve = table({ 'local.test': ['127.0.0.1'], 'v6.test': ['::1'] });
    const guard = createDestinationGuard({ allowed: ['127.0.0.1:8080', '[::1]:8080'], resolve });
    await expect(guard.pin(new URL('http://local.test:8080/x'))).resolves.toMatchObject({ curlResolve: 'local.test:8080:127.0.0.1' });
    await expect(guard.pin(new URL('http://v6.test:8080/x'))).resolves.toMatchObject({ curlResolve: 'v6.test:8080:[::1]' });
    await expect(guard.pin(new URL('http://2130706433:8080/x'))).resolves.toMatchObject({ addresses: [] });
    await expect(guard.pin(new URL('http://[0:0::1]:8080/x'))).resolves.toMatchObject({ addresses: [] });
    expect((await refusal(guard.pin(new URL('http://local.test:8081/x')))).code).toBe('DESTINATION_FORBIDDEN');
    expect((await refusal(guard.pin(new URL('http://127.0.0.2:8080/x')))).code).toBe('DESTINATION_FORBIDDEN');
  });

  it('says a name that does not resolve is a DNS failure, unless a proxy resolves names for this connection', async () => {
    const guard = createDestinationGuard({ resolve: table({}) });
    const error = await refusal(guard.pin(new URL('https://nothing.invalid/x')));
    expect(error.code).toBe('UPSTREAM_UNREACHABLE');
    expect(error.message).toMatch(/nothing\.invalid could not be resolved \(DNS\)/);
    // Through the operator's proxy: a host only the proxy can reach is the proxy's to judge.
    await expect(guard.pin(new URL('https://nothing.invalid/x'), { viaProxy: true })).resolves.toMatchObject({ addresses: [], lookup: undefined });
    // But a name that does resolve here is still checked, proxy or not.
    const resolving = createDestinationGuard({ resolve: table({ 'meta.example.com': ['100.100.100.200'] }) });
    expect((await refusal(resolving.pin(new URL('https://meta.example.com/x'), { viaProxy: true }))).code).toBe('DESTINATION_FORBIDDEN');
  });

  it.each([
    ['git.internal:443', 'git.internal:443'],
    ['GIT.Internal:443', 'git.internal:443'],
    ['127.0.0.1:8080', '127.0.0.1:8080'],
    ['[::1]:8080', '[::1]:8080'],
    ['[0:0:0:0:0:0:0:1]:8080', '[::1]:8080'],
  ])('reads the setting entry %s as %s', (entry, key) => {
    expect(parseDestination(entry)).toBe(key);
  });

  it.each([['git.internal'], ['127.0.0.1'], ['::1:80'], ['host:0'], ['host:65536'], ['host:port'], ['http://host:80']])('refuses the setting entry %s', (entry) => {
    expect(() => parseDestination(entry)).toThrow(/expected host:port/);
  });

  it('FERRY_ALLOWED_DESTINATIONS is read at start, and a malformed entry stops the worker with the reason', () => {
    expect(loadConfig({}).allowedDestinations).toEqual([]);
    expect(loadConfig({ FERRY_ALLOWED_DESTINATIONS: '127.0.0.1:8080, git.internal:443' }).allowedDestinations).toEqual(['127.0.0.1:8080', 'git.internal:443']);
    expect(() => loadConfig({ FERRY_ALLOWED_DESTINATIONS: 'git.internal' })).toThrow(/FERRY_ALLOWED_DESTINATIONS: expected host:port/);
  });
});
