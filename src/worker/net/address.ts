// Which IP addresses the worker may connect to on a user's behalf. Allow-listed, not deny-listed: an IPv4
// address must be ordinary unicast and an IPv6 one global unicast (2000::/3), so a range nobody thought of
// is refused rather than reached. ipaddr.js keeps the IANA special-purpose tables.
import ipaddr from 'ipaddr.js';

export type AddressVerdict = { allowed: true } | { allowed: false; range: string };

/** `range` names the special-purpose block (ipaddr.js's names: `loopback`, `private`, `carrierGradeNat`, …). */
export function classifyAddress(address: string): AddressVerdict {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return { allowed: false, range: 'invalid' };
  }
  return parsed.kind() === 'ipv4' ? classifyV4(parsed as ipaddr.IPv4) : classifyV6(parsed as ipaddr.IPv6);
}

function classifyV4(address: ipaddr.IPv4): AddressVerdict {
  const range = address.range();
  return range === 'unicast' ? { allowed: true } : { allowed: false, range };
}

function classifyV6(address: ipaddr.IPv6): AddressVerdict {
  const range = address.range();
  const [first = 0, second = 0, third = 0] = address.parts;
  switch (range) {
    // Addresses that carry an IPv4 address reach it (mapped, translated, NAT64's well-known prefix,
    // 6to4's gateway): they are judged by it, so ::ffff:127.0.0.1 and 64:ff9b::a9fe:a9fe are refused.
    case 'ipv4Mapped':
    case 'rfc6145':
      return embedded(address, 6, range);
    case 'rfc6052':
      // 64:ff9b:1::/48 is for a network's own translator (RFC 8215), where the IPv4 part is not at a fixed place.
      return first === 0x64 && second === 0xff9b && third === 0 ? embedded(address, 6, range) : { allowed: false, range };
    case '6to4':
      return embedded(address, 1, range);
    case 'unicast':
      // Global unicast only: what ipaddr.js leaves unnamed outside 2000::/3 (::/96 IPv4-compatible, 100::/64 discard) is not.
      return (first & 0xe000) === 0x2000 ? { allowed: true } : { allowed: false, range: 'reserved' };
    default:
      // Teredo among them: a tunnel whose addresses no git or file host serves from.
      return { allowed: false, range };
  }
}

/** The IPv4 address in 16-bit parts `at` and `at + 1`, judged as itself. */
function embedded(address: ipaddr.IPv6, at: number, range: string): AddressVerdict {
  const high = address.parts[at] ?? 0;
  const low = address.parts[at + 1] ?? 0;
  const v4 = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  const verdict = classifyV4(v4);
  return verdict.allowed ? verdict : { allowed: false, range: `${range} ${v4.toString()} (${verdict.range})` };
}

const WORDS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address (where cloud metadata services answer)',
  carrierGradeNat: 'a carrier-grade NAT address (where cloud metadata services answer)',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  unspecified: 'an unspecified address',
  uniqueLocal: 'a unique local (private) address',
  ipv4Mapped: 'an IPv4-mapped address',
  rfc6145: 'an IPv4-translated address',
  rfc6052: 'a NAT64 address',
  '6to4': 'a 6to4 address',
  teredo: 'a Teredo address',
  invalid: 'not an address',
};

/** A refused range in words for a message: `ipv4Mapped 127.0.0.1 (loopback)` → "an IPv4-mapped address of 127.0.0.1, a loopback address". */
export function describeRange(range: string): string {
  const match = /^(\S+) (\S+) \((\S+)\)$/.exec(range);
  if (match) return `${WORDS[match[1] as string] ?? match[1]} of ${match[2]}, ${describeRange(match[3] as string)}`;
  return WORDS[range] ?? `a reserved address (${range})`;
}
