/**
 * Reads the server name (SNI) out of the first bytes a client sends through a CONNECT tunnel. A
 * front end that routes by SNI (a CDN, a TLS load balancer) would carry a tunnel opened to an
 * allowed host on to whichever host the ClientHello names, so the broker compares the two before
 * any of those bytes leave. Only the ClientHello is read; nothing after it is looked at.
 */

/** More than any real ClientHello (post-quantum key shares make them about 2 KiB); past it, the tunnel is refused. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

export type ClientHelloPeek =
  /** Not a TLS handshake record: the tunnel carries something else, and there is no name to check. */
  | { kind: 'notTls' }
  /** A ClientHello has begun and is not complete yet. */
  | { kind: 'partial' }
  | { kind: 'hello'; serverName?: string }
  /** Starts as TLS but is not one well-formed ClientHello: no server could be trusted to read it as the broker did. */
  | { kind: 'invalid'; reason: string };

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXTENSION_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
/** TLSPlaintext records are at most 2^14 bytes (RFC 8446 §5.1). */
const MAX_RECORD = 16 * 1024;

/**
 * PROXY protocol headers (v1 text, v2 binary signature). A front end that accepts one reads the
 * ClientHello after it, so it would hide the hello from this check; it would also make the
 * destination believe another client address. A box has no reason to send one.
 */
const PROXY_PROTOCOL = [Buffer.from('PROXY ', 'latin1'), Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])];

class Malformed extends Error {}

/**
 * Reassembles the ClientHello across TLS records and reads its server_name extension. The
 * handshake may be split into many records and those into many reads; anything a lenient server
 * might read differently from this parser (two names, a repeated extension, lengths that do not
 * add up, another record type before the hello ends) is "invalid", never "no name".
 */
export function peekClientHello(bytes: Buffer): ClientHelloPeek {
  if (bytes.length === 0) return { kind: 'partial' };
  for (const signature of PROXY_PROTOCOL) {
    const seen = bytes.subarray(0, signature.length);
    if (!seen.equals(signature.subarray(0, seen.length))) continue;
    return seen.length < signature.length ? { kind: 'partial' } : { kind: 'invalid', reason: 'the tunnel opens with a PROXY protocol header' };
  }
  if (bytes[0] !== RECORD_HANDSHAKE) return { kind: 'notTls' };
  const fragments: Buffer[] = [];
  let handshakeBytes = 0;
  let needed = -1;
  let at = 0;
  while (at + 5 <= bytes.length) {
    const type = bytes[at];
    const length = bytes.readUInt16BE(at + 3);
    if (type !== RECORD_HANDSHAKE) return { kind: 'invalid', reason: `a TLS record of type ${type} came before the ClientHello was complete` };
    if (bytes[at + 1] !== 0x03) return { kind: 'invalid', reason: 'the TLS record version is not 3.x' };
    if (length === 0 || length > MAX_RECORD) return { kind: 'invalid', reason: `a TLS handshake record of ${length} bytes` };
    if (at + 5 + length > bytes.length) break;
    fragments.push(bytes.subarray(at + 5, at + 5 + length));
    handshakeBytes += length;
    at += 5 + length;
    if (needed < 0 && handshakeBytes >= 4) {
      const head = Buffer.concat(fragments);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return { kind: 'invalid', reason: `the first TLS handshake message is of type ${head[0]}, not a ClientHello` };
      needed = 4 + head.readUIntBE(1, 3);
      if (needed > MAX_CLIENT_HELLO_BYTES) return { kind: 'invalid', reason: `a ClientHello of ${needed} bytes` };
    }
    if (needed >= 0 && handshakeBytes >= needed) {
      try {
        return { kind: 'hello', serverName: serverNameOf(Buffer.concat(fragments).subarray(4, needed)) };
      } catch (error) {
        return { kind: 'invalid', reason: (error as Error).message };
      }
    }
  }
  if (bytes.length > MAX_CLIENT_HELLO_BYTES) return { kind: 'invalid', reason: `no complete ClientHello within ${MAX_CLIENT_HELLO_BYTES} bytes` };
  return { kind: 'partial' };
}

/** A cursor that refuses to read past its end, so a length field can never point outside the message. */
class Reader {
  private at = 0;
  constructor(private readonly buffer: Buffer, private readonly what: string) {}

  get done(): boolean {
    return this.at === this.buffer.length;
  }

  take(length: number): Buffer {
    if (this.at + length > this.buffer.length) throw new Malformed(`the ClientHello's ${this.what} is cut short`);
    const piece = this.buffer.subarray(this.at, this.at + length);
    this.at += length;
    return piece;
  }

  uint(bytes: 1 | 2): number {
    return this.take(bytes).readUIntBE(0, bytes);
  }

  /** The bytes of a vector with a length prefix of `prefix` bytes. */
  bytes(prefix: 1 | 2): Buffer {
    return this.take(this.uint(prefix));
  }

  /** A vector with a length prefix of `prefix` bytes, read as its own bounded Reader. */
  vector(prefix: 1 | 2, what: string): Reader {
    return new Reader(this.bytes(prefix), what);
  }

  end(): void {
    if (!this.done) throw new Malformed(`the ClientHello's ${this.what} has ${this.buffer.length - this.at} bytes left over`);
  }
}

function serverNameOf(body: Buffer): string | undefined {
  const hello = new Reader(body, 'body');
  hello.take(2 + 32); // legacy_version, random
  hello.vector(1, 'session id');
  const suites = hello.vector(2, 'cipher suites');
  if (suites.done) throw new Malformed('the ClientHello offers no cipher suite');
  if (hello.vector(1, 'compression methods').done) throw new Malformed('the ClientHello offers no compression method');
  // A hello that ends here has no extensions, so no name (TLS 1.0 clients).
  if (hello.done) return undefined;
  const extensions = hello.vector(2, 'extensions');
  hello.end();
  const seen = new Set<number>();
  let name: string | undefined;
  while (!extensions.done) {
    const type = extensions.uint(2);
    const data = extensions.vector(2, `extension ${type}`);
    if (seen.has(type)) throw new Malformed(`the ClientHello repeats extension ${type}`);
    seen.add(type);
    if (type === EXTENSION_SERVER_NAME) name = hostNameIn(data);
  }
  return name;
}

function hostNameIn(extension: Reader): string | undefined {
  const list = extension.vector(2, 'server name list');
  extension.end();
  let host: string | undefined;
  while (!list.done) {
    const type = list.uint(1);
    const name = list.bytes(2);
    if (type !== NAME_TYPE_HOST) continue;
    if (host !== undefined) throw new Malformed('the ClientHello names more than one host');
    if (name.length === 0) throw new Malformed('the ClientHello names an empty host');
    host = name.toString('latin1');
  }
  return host;
}
