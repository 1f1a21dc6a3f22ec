import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { slabReads } from '../../src/sandbox/slabReads.js';

const patterned = (length: number) => {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 12)) % 251;
  return bytes;
};

/** What libuv does with `onread`: asks for a buffer, fills its start, reports how much. */
function read(reads: ReturnType<typeof slabReads>, bytes: Buffer): Uint8Array {
  const buffer = reads.buffer();
  assert.ok(bytes.length <= buffer.length);
  buffer.set(bytes);
  reads.callback(bytes.length, buffer);
  return buffer;
}

describe('slabReads', () => {
  test('reads follow each other in one slab, each offered at most maxRead, until less than minRead is left', () => {
    const seen: Buffer[] = [];
    // Over 4 KiB, so the slabs are not carved from Buffer's shared pool and can be told apart.
    const reads = slabReads((data) => void seen.push(data), { slabBytes: 10_000, maxRead: 3000, minRead: 2000 });
    const offered: number[] = [];
    for (const size of [3000, 2500, 1000, 1200]) {
      offered.push(reads.buffer().length);
      read(reads, Buffer.alloc(size, size & 0xff));
    }
    assert.deepEqual(offered, [3000, 3000, 3000, 3000]);
    assert.equal(seen[1].buffer, seen[0].buffer, 'the same slab');
    assert.equal(seen[1].byteOffset, seen[0].byteOffset + 3000, 'right after the first read');
    assert.equal(seen[3].byteOffset, seen[2].byteOffset + 1000);
    // 10000 - 7700 = 2300 left: one more read of up to 2300.
    assert.equal(reads.buffer().length, 2300);
    read(reads, Buffer.alloc(1000, 1));
    // 1300 left, under minRead: a fresh slab.
    const next = reads.buffer();
    assert.notEqual(next.buffer, seen[0].buffer);
    assert.equal(next.length, 3000);
  });

  test('bytes handed on are never written over by later reads', () => {
    const seen: Buffer[] = [];
    const reads = slabReads((data) => void seen.push(data), { slabBytes: 4096, maxRead: 1024, minRead: 256 });
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      // A read fills at most what it is offered.
      const size = Math.min(1 + ((i * 37) % 1024), reads.buffer().length);
      const bytes = patterned(size).map((byte) => (byte + i) % 256);
      sent.push(Buffer.from(bytes));
      read(reads, Buffer.from(bytes));
    }
    assert.ok(Buffer.concat(seen).equals(Buffer.concat(sent)));
  });

  test('onData returning false is the callback returning false (the socket pauses)', () => {
    let answer: boolean | void = false;
    const reads = slabReads(() => answer, { slabBytes: 64, maxRead: 16, minRead: 8 });
    assert.equal(reads.callback(1, reads.buffer()), false);
    answer = undefined;
    assert.equal(reads.callback(1, reads.buffer()), true);
  });

  test('through a real socket: every byte arrives in order while every read is still held', async (t: TestContext) => {
    const payload = patterned(8 * 1024 * 1024);
    const server = net.createServer((socket) => socket.end(payload));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const held: Buffer[] = [];
    const socket = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', onread: slabReads((data) => void held.push(data), { slabBytes: 256 * 1024, maxRead: 128 * 1024, minRead: 16 * 1024 }) });
    await new Promise((resolve) => socket.on('end', resolve));
    assert.ok(Buffer.concat(held).equals(payload));
    assert.ok(held.every((data) => data.length <= 128 * 1024));
  });
});
