import * as net from 'node:net';
import * as tls from 'node:tls';

/** Builders for TLS ClientHello bytes: whole ones from node's own client, and ones made field by field to be made wrong. */

export const u16 = (value: number) => Buffer.from([value >> 8, value & 0xff]);
export const u24 = (value: number) => Buffer.from([value >> 16, (value >> 8) & 0xff, value & 0xff]);
export const vector16 = (...parts: Buffer[]) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([u16(body.length), body]);
};
export const extension = (type: number, data: Buffer) => Buffer.concat([u16(type), vector16(data)]);
export const hostName = (name: string, type = 0) => Buffer.concat([Buffer.from([type]), vector16(Buffer.from(name, 'latin1'))]);
export const sni = (...names: Buffer[]) => extension(0, vector16(...names));

/** A ClientHello handshake message (type, length, body) built field by field, so each field can be made wrong. */
export function helloMessage(options: { extensions?: Buffer[] | null; suites?: Buffer; compression?: Buffer; trailing?: Buffer } = {}): Buffer {
  const parts = [
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    options.suites ?? vector16(Buffer.from([0x13, 0x01])),
    options.compression ?? Buffer.from([1, 0]),
  ];
  if (options.extensions !== null) parts.push(vector16(...(options.extensions ?? [sni(hostName('api.example.test'))])));
  if (options.trailing) parts.push(options.trailing);
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x01]), u24(body.length), body]);
}

/** The message in TLS handshake records of at most `size` bytes each. */
export function records(message: Buffer, size = 16 * 1024, type = 0x16): Buffer {
  const out: Buffer[] = [];
  for (let at = 0; at < message.length; at += size) {
    const fragment = message.subarray(at, at + size);
    out.push(Buffer.from([type, 0x03, 0x01]), u16(fragment.length), fragment);
  }
  return Buffer.concat(out);
}

/** The bytes node's own TLS client sends first, captured by a loopback server that never answers. */
export async function realHello(servername?: string): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  try {
    const first = new Promise<Buffer>((resolve) => server.once('connection', (socket) => socket.once('data', resolve)));
    const client = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
    client.on('error', () => undefined);
    const bytes = await first;
    client.destroy();
    return bytes;
  } finally {
    server.close();
  }
}
