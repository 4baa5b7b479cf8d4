import type { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { authority, firstExternalIPv4, isLoopbackHost, reachableHost } from '../../src/local/reachable-host.js';

type Interfaces = ReturnType<typeof networkInterfaces>;

const address = (family: 'IPv4' | 'IPv6', value: string, internal: boolean) =>
  ({ address: value, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null, ...(family === 'IPv6' && { scopeid: 0 }) }) as NonNullable<Interfaces[string]>[number];

const machine: Interfaces = {
  lo: [address('IPv4', '127.0.0.1', true), address('IPv6', '::1', true)],
  eth0: [address('IPv6', 'fd00::2', false), address('IPv4', '192.0.2.2', false)],
  eth1: [address('IPv4', '198.51.100.7', false)],
};
const offline: Interfaces = { lo: machine.lo };

describe('reachableHost: the host links name for a stack listening on --host', () => {
  it.each([
    ['0.0.0.0', undefined, machine, '192.0.2.2'],
    ['::', undefined, machine, '192.0.2.2'],
    ['0.0.0.0', 'ferry.lan', machine, 'ferry.lan'],
    ['0.0.0.0', undefined, offline, '127.0.0.1'],
    ['192.0.2.2', undefined, machine, '192.0.2.2'],
    ['127.0.0.1', undefined, machine, '127.0.0.1'],
  ])('--host %s --public-host %s → %s', (host, publicHost, interfaces, expected) => {
    expect(reachableHost(host, publicHost, interfaces)).toBe(expected);
  });

  it('takes the first non-internal IPv4 address, skipping loopback and IPv6', () => {
    expect(firstExternalIPv4(machine)).toBe('192.0.2.2');
    expect(firstExternalIPv4(offline)).toBeUndefined();
  });

  it('knows loopback hosts, and brackets IPv6 in an authority', () => {
    expect(['127.0.0.1', '127.0.1.1', 'localhost', '::1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '192.0.2.2', 'ferry.lan'].some(isLoopbackHost)).toBe(false);
    expect(authority('fd00::2', 80)).toBe('[fd00::2]:80');
    expect(authority('192.0.2.2', 80)).toBe('192.0.2.2:80');
  });
});
