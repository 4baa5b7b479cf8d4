import { describe, expect, it } from 'vitest';
import { classifyAddress, describeRange } from '../../../src/worker/net/address.js';

// Every address here but the first few of each family is one the worker must never connect to for a user.
describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8'],
    ['140.82.112.3'], // github.com
    ['1.1.1.1'],
    ['2606:4700:4700::1111'],
    ['2001:4860:4860::8888'],
    ['::ffff:8.8.8.8'], // mapped: judged by its IPv4
    ['64:ff9b::808:808'], // NAT64: judged by its IPv4
    ['2002:808:808::1'], // 6to4: judged by its IPv4
  ])('allows the public address %s', (address) => {
    expect(classifyAddress(address)).toEqual({ allowed: true });
  });

  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'], // the usual cloud metadata address
    ['100.100.100.200', 'carrierGradeNat'], // Alibaba Cloud's metadata service
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['192.0.0.1', 'reserved'],
    ['192.0.2.1', 'reserved'], // TEST-NET-1
    ['198.51.100.1', 'reserved'], // TEST-NET-2
    ['203.0.113.1', 'reserved'], // TEST-NET-3
    ['198.18.0.1', 'reserved'], // benchmarking
    ['240.0.0.1', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['fe80::1', 'linkLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['100::1', 'discard'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['2001::1', 'teredo'],
    ['64:ff9b:1::1', 'rfc6052'], // a network's own NAT64 prefix
    ['::ffff:127.0.0.1', 'ipv4Mapped 127.0.0.1 (loopback)'],
    ['::ffff:100.100.100.200', 'ipv4Mapped 100.100.100.200 (carrierGradeNat)'],
    ['::ffff:169.254.169.254', 'ipv4Mapped 169.254.169.254 (linkLocal)'],
    ['::ffff:7f00:1', 'ipv4Mapped 127.0.0.1 (loopback)'],
    ['64:ff9b::7f00:1', 'rfc6052 127.0.0.1 (loopback)'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052 169.254.169.254 (linkLocal)'],
    ['64:ff9b::a0a:a0a', 'rfc6052 10.10.10.10 (private)'],
    ['2002:7f00:1::1', '6to4 127.0.0.1 (loopback)'],
    ['2002:a9fe:a9fe::1', '6to4 169.254.169.254 (linkLocal)'],
    ['[::1]', 'loopback'],
    ['not an address', 'invalid'],
  ])('refuses %s (%s)', (address, range) => {
    expect(classifyAddress(address)).toEqual({ allowed: false, range });
  });

  it.each([
    ['loopback', 'a loopback address'],
    ['carrierGradeNat', 'a carrier-grade NAT address (where cloud metadata services answer)'],
    ['ipv4Mapped 169.254.169.254 (linkLocal)', 'an IPv4-mapped address of 169.254.169.254, a link-local address (where cloud metadata services answer)'],
    ['benchmarking', 'a reserved address (benchmarking)'],
  ])('says %s as "%s"', (range, words) => {
    expect(describeRange(range)).toBe(words);
  });
});
