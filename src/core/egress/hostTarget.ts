import { domainToASCII } from 'node:url';
import ipaddr from 'ipaddr.js';
import { canonicalIPv6 } from './addressPolicy.js';

/** A destination after normalisation: what rules match against and what the broker dials. */
export interface HostTarget {
  /** Lowercase ASCII (punycode) name without a trailing dot, or the canonical text of an IP. */
  host: string;
  port: number;
  kind: 'name' | 'ipv4' | 'ipv6';
}

export class TargetError extends Error {}

// Refused before any parsing: they change what a URL parser would take as the host.
const FORBIDDEN = /[\u0000-\u0020\u007f@/\\?#%]/;
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

export function parsePort(text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new TargetError(`port "${text}" is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new TargetError(`port ${port} is out of range (1-65535)`);
  return port;
}

/**
 * Lowercases, drops one trailing dot, converts IDNs to punycode and every IP spelling (127.1,
 * 0x7f.1, 2130706433, [::ffff:7f00:1]) to one canonical form, through the WHATWG URL host parser
 * that browsers and curl agree with. Names and IPs never compare as strings before this.
 */
export function normalizeHost(raw: string): Omit<HostTarget, 'port'> {
  if (raw.length === 0 || raw.length > 300) throw new TargetError('host is empty or too long');
  if (FORBIDDEN.test(raw)) throw new TargetError(`host "${printableHost(raw)}" contains a character that is not allowed (control, space, @, /, \\, ?, #, %)`);
  let text = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (/[[\]]/.test(text)) throw new TargetError(`host "${printableHost(raw)}" has unbalanced or nested brackets`);
  if (text.includes(':')) {
    const canonical = canonicalIPv6(text);
    if (!canonical || !ipaddr.IPv6.isValid(canonical)) throw new TargetError(`host "${printableHost(raw)}" is not a valid IPv6 address`);
    return { host: ipaddr.IPv6.parse(canonical).toString(), kind: 'ipv6' };
  }
  if (text.endsWith('.')) text = text.slice(0, -1);
  let parsed: string;
  try {
    parsed = new URL(`http://${text}/`).hostname;
  } catch {
    throw new TargetError(`host "${printableHost(raw)}" is not a valid host name or address`);
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(parsed)) return { host: parsed, kind: 'ipv4' };
  const ascii = domainToASCII(parsed);
  if (!ascii || ascii.length > 253 || !ascii.split('.').every((label) => LABEL.test(label))) {
    throw new TargetError(`host "${printableHost(raw)}" is not a valid host name`);
  }
  return { host: ascii, kind: 'name' };
}

/** `host:port` or `[v6]:port` as in a CONNECT request line or a Host header. */
export function parseAuthority(authority: string, defaultPort?: number): HostTarget {
  let hostPart: string;
  let portPart: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw new TargetError(`"${printableHost(authority)}" has an unclosed [`);
    hostPart = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) throw new TargetError(`"${printableHost(authority)}" has text after the IPv6 address`);
    portPart = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    if (colon >= 0 && authority.indexOf(':') !== colon) throw new TargetError(`"${printableHost(authority)}": an IPv6 address must be in [brackets]`);
    hostPart = colon >= 0 ? authority.slice(0, colon) : authority;
    portPart = colon >= 0 ? authority.slice(colon + 1) : undefined;
  }
  if (portPart === undefined && defaultPort === undefined) throw new TargetError(`"${printableHost(authority)}" needs a port`);
  const port = portPart === undefined ? defaultPort! : parsePort(portPart);
  return { ...normalizeHost(hostPart), port };
}

export function formatTarget(target: Pick<HostTarget, 'host' | 'port' | 'kind'>): string {
  return target.kind === 'ipv6' ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** For messages and logs: sandbox-chosen text with control characters made visible and length bounded. */
export function printableHost(text: string): string {
  const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
  return shown.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
