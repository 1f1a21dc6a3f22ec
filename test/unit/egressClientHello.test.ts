import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { serverNameRefusal } from '../../src/core/egress/egressBroker.js';
import { MAX_CLIENT_HELLO_BYTES, peekClientHello } from '../../src/core/egress/tlsClientHello.js';
import { extension, helloMessage, hostName, realHello, records, sni, u16, u24, vector16 } from '../helpers/tlsHello.js';

describe('peekClientHello', () => {
  test("reads the server name from node's own ClientHello, and none when the client names no host", async () => {
    assert.deepEqual(peekClientHello(await realHello('api.example.test')), { kind: 'hello', serverName: 'api.example.test' });
    assert.deepEqual(peekClientHello(await realHello()), { kind: 'hello', serverName: undefined });
  });

  test('a ClientHello fed in pieces is partial until its last byte, then read whole', async () => {
    const bytes = await realHello('api.example.test');
    for (const cut of [1, 4, 5, 6, 9, 40, bytes.length - 1]) assert.deepEqual(peekClientHello(bytes.subarray(0, cut)), { kind: 'partial' }, `cut at ${cut}`);
    assert.deepEqual(peekClientHello(bytes), { kind: 'hello', serverName: 'api.example.test' });
  });

  test('a ClientHello spread over many TLS records is reassembled before it is read', () => {
    const message = helloMessage({ extensions: [extension(0x0a, Buffer.alloc(300, 1)), sni(hostName('other.example.test'))] });
    for (const size of [1, 3, 50]) assert.deepEqual(peekClientHello(records(message, size)), { kind: 'hello', serverName: 'other.example.test' }, `records of ${size}`);
  });

  test('bytes after the ClientHello (early data, a second record) do not change what is read', () => {
    const bytes = Buffer.concat([records(helloMessage()), Buffer.from([0x17, 0x03, 0x03, 0x00, 0x02, 0xaa, 0xbb])]);
    assert.deepEqual(peekClientHello(bytes), { kind: 'hello', serverName: 'api.example.test' });
  });

  test('a hello without extensions, or with no server_name among them, names no host', () => {
    assert.deepEqual(peekClientHello(records(helloMessage({ extensions: null }))), { kind: 'hello', serverName: undefined });
    assert.deepEqual(peekClientHello(records(helloMessage({ extensions: [extension(0x2b, Buffer.from([2, 3, 4]))] }))), { kind: 'hello', serverName: undefined });
  });

  test('anything that does not start with a handshake record is not TLS, and nothing is held for it', () => {
    assert.deepEqual(peekClientHello(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'notTls' });
    assert.deepEqual(peekClientHello(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n')), { kind: 'notTls' });
    assert.deepEqual(peekClientHello(Buffer.from([0x80, 0x2e, 0x01])), { kind: 'notTls' });
    assert.deepEqual(peekClientHello(Buffer.alloc(0)), { kind: 'partial' });
  });

  test('a PROXY protocol header (v1 or v2) before the hello is refused, and its first bytes are held until they decide', async () => {
    const hello = await realHello('denied.example.test');
    const v1 = Buffer.from('PROXY TCP4 203.0.113.5 127.0.0.2 40000 443\r\n', 'latin1');
    const v2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c]);
    assert.deepEqual(peekClientHello(Buffer.concat([v1, hello])), { kind: 'invalid', reason: 'the tunnel opens with a PROXY protocol header' });
    assert.deepEqual(peekClientHello(Buffer.concat([v2, hello])), { kind: 'invalid', reason: 'the tunnel opens with a PROXY protocol header' });
    assert.deepEqual(peekClientHello(v1.subarray(0, 3)), { kind: 'partial' });
    assert.deepEqual(peekClientHello(v2.subarray(0, 5)), { kind: 'partial' });
    assert.deepEqual(peekClientHello(Buffer.from('POST / HTTP/1.1\r\n')), { kind: 'notTls' });
    assert.deepEqual(peekClientHello(Buffer.from('\r\n\r\nGET')), { kind: 'notTls' });
  });

  test('what a lenient server might read differently is invalid, never "no name"', () => {
    const invalid = (bytes: Buffer, reason: RegExp) => {
      const peek = peekClientHello(bytes);
      assert.equal(peek.kind, 'invalid', `${bytes.toString('hex').slice(0, 60)}: ${JSON.stringify(peek)}`);
      assert.match((peek as { reason: string }).reason, reason);
    };
    invalid(records(helloMessage({ extensions: [sni(hostName('api.example.test'), hostName('evil.example.test'))] })), /more than one host/);
    invalid(records(helloMessage({ extensions: [sni(hostName('api.example.test')), sni(hostName('evil.example.test'))] })), /repeats extension 0/);
    invalid(records(helloMessage({ extensions: [sni(hostName(''))] })), /empty host/);
    invalid(records(helloMessage({ trailing: Buffer.from([0]) })), /left over/);
    invalid(records(helloMessage({ suites: vector16() })), /no cipher suite/);
    invalid(records(helloMessage({ compression: Buffer.from([0]) })), /no compression method/);
    // A server_name list whose length runs past the extension.
    invalid(records(helloMessage({ extensions: [extension(0, Buffer.concat([u16(40), hostName('api.example.test')]))] })), /cut short/);
    // Another record type between the pieces of the hello.
    const message = helloMessage();
    invalid(Buffer.concat([records(message.subarray(0, 20)), records(Buffer.from([1]), 16, 0x15), records(message.subarray(20))]), /type 21 came before/);
    invalid(Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(0)]), /of 0 bytes/);
    invalid(Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(16 * 1024 + 1)]), /of 16385 bytes/);
    invalid(Buffer.concat([Buffer.from([0x16, 0x02, 0x00]), u16(4), Buffer.from([1, 0, 0, 0])]), /version/);
    invalid(records(Buffer.from([0x02, 0, 0, 2, 3, 3])), /type 2, not a ClientHello/);
    invalid(records(Buffer.from([0x01, 0x01, 0x00, 0x00])), /ClientHello of 65540 bytes/);
  });

  test('a hello that has not completed once more than the limit has come is refused', () => {
    const declared = Buffer.concat([Buffer.from([0x01]), u24(MAX_CLIENT_HELLO_BYTES - 8), Buffer.alloc(MAX_CLIENT_HELLO_BYTES, 0)]);
    // Three whole records and most of a fourth: past the limit, the hello still short of its length.
    const stream = records(declared, 16 * 1024);
    const cut = 3 * (5 + 16 * 1024) + 5 + 16 * 1024 - 14;
    assert.ok(cut > MAX_CLIENT_HELLO_BYTES);
    assert.deepEqual(peekClientHello(stream.subarray(0, cut - 100)), { kind: 'partial' });
    assert.deepEqual(peekClientHello(stream.subarray(0, cut)), { kind: 'invalid', reason: `no complete ClientHello within ${MAX_CLIENT_HELLO_BYTES} bytes` });
  });
});

describe('serverNameRefusal', () => {
  const name = { host: 'api.example.test', kind: 'name', port: 443 } as const;

  test('the tunnel host itself passes, in any case and with a trailing dot', () => {
    assert.equal(serverNameRefusal(name, 'api.example.test'), undefined);
    assert.equal(serverNameRefusal(name, 'API.Example.Test.'), undefined);
  });

  test('another host, a host name that is not valid, and any name in a tunnel to an address are refused', () => {
    assert.match(serverNameRefusal(name, 'evil.example.test') ?? '', /names evil\.example\.test, not api\.example\.test/);
    assert.match(serverNameRefusal(name, 'sub.api.example.test') ?? '', /names sub\.api\.example\.test/);
    assert.match(serverNameRefusal(name, '127.0.0.1') ?? '', /names 127\.0\.0\.1/);
    assert.match(serverNameRefusal(name, 'api.example.test\u0000.evil') ?? '', /not a valid host name/);
    assert.match(serverNameRefusal({ host: '127.0.0.2', kind: 'ipv4', port: 443 }, 'api.example.test') ?? '', /allowed for the address 127\.0\.0\.2/);
  });
});
