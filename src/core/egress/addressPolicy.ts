import ipaddr from 'ipaddr.js';

/**
 * Addresses that reach something other than the public internet: the host itself, its LAN, the
 * cloud's metadata service. An allowed name that resolves to one of these is refused unless a CIDR
 * rule admits it (a DNS answer is attacker-controllable; see SECURITY.md).
 */
const METADATA = ['169.254.169.254', '100.100.100.200', '168.63.129.16', '192.0.0.192', 'fd00:ec2::254'].map((text) => ipaddr.parse(text).toString());

export type Address = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * IPv6 text through the WHATWG parser first: ipaddr.js reads "::127.0.0.1" (IPv4-compatible) as
 * the mapped ::ffff:127.0.0.1, a different address. Undefined when it is not IPv6 text.
 */
export function canonicalIPv6(text: string): string | undefined {
  const bracketed = text.startsWith('[') && text.endsWith(']');
  const bare = bracketed ? text.slice(1, -1) : text;
  if (!bare.includes(':') || /[%[\]]/.test(bare)) return undefined;
  try {
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

export function parseAddress(text: string): Address | undefined {
  // Zone ids (fe80::1%eth0) name a host interface, never a destination a rule should match.
  if (text.includes('%')) return undefined;
  try {
    return ipaddr.parse(canonicalIPv6(text) ?? text);
  } catch {
    return undefined;
  }
}

/** The IPv4 address an IPv6 form carries (mapped, compatible, SIIT, NAT64, 6to4), if any. */
export function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const parts = address.parts;
  const last32 = () => new ipaddr.IPv4([parts[6] >> 8, parts[6] & 0xff, parts[7] >> 8, parts[7] & 0xff]);
  const range = address.range();
  if (range === 'ipv4Mapped' || range === 'rfc6145' || range === 'rfc6052') return last32();
  // ::a.b.c.d (the deprecated "IPv4-compatible" form) — ipaddr.js calls it unicast.
  if (parts.slice(0, 6).every((part) => part === 0) && (parts[6] !== 0 || parts[7] > 1)) return last32();
  // 64:ff9b:1::/48, the local-use NAT64 prefix (RFC 8215).
  if (parts[0] === 0x64 && parts[1] === 0xff9b && parts[2] === 1) return last32();
  if (range === '6to4') return new ipaddr.IPv4([parts[1] >> 8, parts[1] & 0xff, parts[2] >> 8, parts[2] & 0xff]);
  return undefined;
}

/** Why an address is not a public destination, or undefined when it is one. */
export function specialAddressReason(address: Address): string | undefined {
  const text = address.toString();
  if (METADATA.includes(text)) return 'a cloud metadata address';
  if (address.kind() === 'ipv6') {
    const v6 = address as ipaddr.IPv6;
    const inner = embeddedIPv4(v6);
    if (inner) {
      const reason = specialAddressReason(inner);
      return reason ? `an IPv6 form of ${inner.toString()} (${reason})` : undefined;
    }
    const range = v6.range();
    if (range === 'unicast') return undefined;
    return RANGE_NAMES[range] ?? `a special-purpose IPv6 address (${range})`;
  }
  const range = (address as ipaddr.IPv4).range();
  if (range === 'unicast') return undefined;
  return RANGE_NAMES[range] ?? `a special-purpose IPv4 address (${range})`;
}

const RANGE_NAMES: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private (RFC 1918) address',
  uniqueLocal: 'a private (fc00::/7) address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a carrier-grade NAT (100.64/10) address',
  unspecified: 'an unspecified address',
  multicast: 'a multicast address',
  broadcast: 'a broadcast address',
  reserved: 'a reserved address',
  teredo: 'a Teredo tunnel address',
};

export interface Cidr {
  text: string;
  range: [Address, number];
}

export function parseCidr(text: string): Cidr | undefined {
  try {
    const [addressText, bits, ...rest] = text.split('/');
    if (rest.length > 0) return undefined;
    if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return undefined;
    const address = parseAddress(addressText);
    if (!address) return undefined;
    const range = ipaddr.parseCIDR(`${address.toString()}/${bits ?? (address.kind() === 'ipv4' ? 32 : 128)}`) as [Address, number];
    return { text: `${range[0].toString()}/${range[1]}`, range };
  } catch {
    return undefined;
  }
}

/**
 * Whether `cidr` covers `address`. For a deny rule every IPv6 form that carries an IPv4 address
 * (mapped, NAT64, 6to4…) counts as that address. For an allow rule only the IPv4-mapped form does:
 * it is the same socket destination, while a NAT64 or 6to4 address is dialled somewhere else.
 */
export function cidrContains(cidr: Cidr, address: Address, purpose: 'allow' | 'deny'): boolean {
  const [base] = cidr.range;
  let candidate: Address = address;
  if (address.kind() === 'ipv6' && base.kind() === 'ipv4') {
    const v6 = address as ipaddr.IPv6;
    const inner = purpose === 'deny' || v6.isIPv4MappedAddress() ? embeddedIPv4(v6) : undefined;
    if (!inner) return false;
    candidate = inner;
  }
  if (candidate.kind() !== base.kind()) return false;
  return (candidate as ipaddr.IPv4).match(cidr.range);
}
