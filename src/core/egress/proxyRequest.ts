import { formatTarget, parseAuthority, printableHost, TargetError, type HostTarget } from './hostTarget.js';

/** The most a request head may take before it is refused (431), like common proxies' defaults. */
export const MAX_HEAD_BYTES = 16 * 1024;

export type ProxyRequest =
  | { kind: 'connect'; target: HostTarget; method: 'CONNECT' }
  /** Plain HTTP: `head` is what goes to the origin (origin-form, no proxy headers, Connection: close). */
  | { kind: 'http'; target: HostTarget; method: string; head: Buffer };

export class ProxyRequestError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const REQUEST_LINE = /^([A-Z]{1,20}) (\S{1,8192}) HTTP\/1\.([01])$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
// Hop-by-hop headers a proxy must not forward, and the credentials meant for a proxy.
const DROPPED = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade']);

/** Where the head ends (the index after CRLFCRLF), or -1. */
export function headEnd(buffer: Buffer): number {
  const index = buffer.indexOf('\r\n\r\n');
  return index < 0 ? -1 : index + 4;
}

/**
 * Parses the head of a request a sandbox process sent to the proxy: CONNECT host:port, or an
 * absolute http:// URL whose authority must agree with the Host header (a disagreement is how
 * request smuggling through a proxy starts).
 */
export function parseProxyRequest(head: Buffer): ProxyRequest {
  const text = head.toString('latin1');
  if (/[\u0000\u007f]/.test(text) || /[^\r]\n/.test(text)) throw new ProxyRequestError(400, 'the request head has control bytes or bare line feeds');
  const lines = text.slice(0, -4).split('\r\n');
  const line = REQUEST_LINE.exec(lines[0]);
  if (!line) throw new ProxyRequestError(400, `not an HTTP/1.x request line: "${printableHost(lines[0].slice(0, 80))}"`);
  const [, method, requestTarget, minor] = line;
  const headers: Array<[string, string]> = [];
  for (const raw of lines.slice(1)) {
    const header = HEADER_LINE.exec(raw);
    if (!header) throw new ProxyRequestError(400, `malformed header line "${printableHost(raw.slice(0, 80))}"`);
    if (/[\u0000-\u0008\u000a-\u001f]/.test(header[2])) throw new ProxyRequestError(400, `header ${header[1]} has control bytes`);
    headers.push([header[1], header[2]]);
  }
  const hosts = headers.filter(([name]) => name.toLowerCase() === 'host');
  if (hosts.length > 1) throw new ProxyRequestError(400, 'more than one Host header');
  try {
    if (method === 'CONNECT') return { kind: 'connect', method, target: parseAuthority(requestTarget) };
    const url = /^http:\/\/([^/?#]*)([/?][^#]*)?$/i.exec(requestTarget);
    if (!url) {
      if (/^https:\/\//i.test(requestTarget)) throw new ProxyRequestError(400, 'https:// URLs go through CONNECT, not a plain request');
      throw new ProxyRequestError(400, 'a proxy request needs an absolute http:// URL or CONNECT host:port');
    }
    const target = parseAuthority(url[1], 80);
    if (hosts.length === 0) throw new ProxyRequestError(400, 'the request has no Host header');
    const hostHeader = parseAuthority(hosts[0][1], 80);
    if (formatTarget(hostHeader) !== formatTarget(target)) {
      throw new ProxyRequestError(400, `the URL's host ${formatTarget(target)} and the Host header ${formatTarget(hostHeader)} disagree`);
    }
    checkFraming(headers, minor);
    const kept = headers.filter(([name]) => !DROPPED.has(name.toLowerCase()));
    const path = url[2] ? (url[2].startsWith('?') ? `/${url[2]}` : url[2]) : '/';
    const forwarded = [`${method} ${path} HTTP/1.${minor}`, ...kept.map(([name, value]) => `${name}: ${value}`), 'Connection: close', '', ''].join('\r\n');
    return { kind: 'http', method, target, head: Buffer.from(forwarded, 'latin1') };
  } catch (error) {
    if (error instanceof TargetError) throw new ProxyRequestError(400, error.message);
    throw error;
  }
}

/**
 * Refuses a request whose body length two parsers could read differently (RFC 9112 §6): both
 * Content-Length and Transfer-Encoding, disagreeing or malformed lengths, a transfer coding that
 * does not end in chunked, or Transfer-Encoding on HTTP/1.0. Forwarded as they are, the origin (or
 * a front end at the allowed host) could take the end of one body as the start of a second request
 * the broker never read.
 */
function checkFraming(headers: Array<[string, string]>, minor: string): void {
  const values = (wanted: string) => headers.filter(([name]) => name.toLowerCase() === wanted).map(([, value]) => value);
  const lengths = values('content-length');
  const codings = values('transfer-encoding');
  if (codings.length > 0) {
    if (lengths.length > 0) throw new ProxyRequestError(400, 'the request has both Content-Length and Transfer-Encoding');
    if (minor === '0') throw new ProxyRequestError(400, 'an HTTP/1.0 request cannot use Transfer-Encoding');
    const list = codings.join(',').split(',').map((coding) => coding.trim().toLowerCase());
    if (list.at(-1) !== 'chunked' || list.indexOf('chunked') !== list.length - 1) throw new ProxyRequestError(400, `Transfer-Encoding "${printableHost(codings.join(', ').slice(0, 80))}" does not end in a single chunked`);
  }
  if (lengths.length > 1) throw new ProxyRequestError(400, 'the request has more than one Content-Length');
  if (lengths.length === 1 && !/^\d{1,15}$/.test(lengths[0])) throw new ProxyRequestError(400, `Content-Length "${printableHost(lengths[0].slice(0, 40))}" is not a number`);
}

/** A complete response the proxy itself sends (refusals and errors); the body says why, in one line. */
export function proxyResponse(status: number, reason: string): Buffer {
  const phrases: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 500: 'Internal Server Error', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
  const body = `airlock: ${reason}\n`;
  return Buffer.from(`HTTP/1.1 ${status} ${phrases[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nX-Airlock-Decision: ${status === 403 ? 'deny' : 'error'}\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'utf8');
}

export const CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\n', 'latin1');
