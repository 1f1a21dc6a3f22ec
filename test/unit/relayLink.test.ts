import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { LINK_WINDOW, readRelayStream, relayLinkSender } from '../../src/core/egress/relayLink.js';
import { FRAME, FRAME_HEADER_BYTES, FrameDecoder, FrameError, frameHeader, MAX_FRAME_PAYLOAD, type FrameType } from '../../src/core/egress/relayProtocol.js';
import { until } from '../helpers/until.js';

interface Frame {
  type: number;
  id: number;
  payload: string;
}

const frame = (type: FrameType, id: number, payload = Buffer.alloc(0)) => Buffer.concat([frameHeader(type, id, payload.length), payload]);
const patterned = (length: number) => Buffer.from(Array.from({ length }, (_, i) => 'abcdefghijklmnopqrstuvwxyz'.charCodeAt(i % 26)));

/** A relay's output: small frames around one larger DATA frame, so splits fall in headers and payloads alike. */
const big = patterned(5000);
const stream = Buffer.concat([frame(FRAME.READY, 0, Buffer.from('{"pid":7}')), frame(FRAME.OPEN, 3), frame(FRAME.DATA, 3, big), frame(FRAME.PAUSE, 3), frame(FRAME.DATA, 4, Buffer.from('x')), frame(FRAME.CLOSE, 3)]);
const expected: Frame[] = [
  { type: FRAME.READY, id: 0, payload: '{"pid":7}' },
  { type: FRAME.OPEN, id: 3, payload: '' },
  { type: FRAME.DATA, id: 3, payload: big.toString('latin1') },
  { type: FRAME.PAUSE, id: 3, payload: '' },
  { type: FRAME.DATA, id: 4, payload: 'x' },
  { type: FRAME.CLOSE, id: 3, payload: '' },
];

function decoded(pieces: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder((type, id, payload) => frames.push({ type, id, payload: payload.toString('latin1') }));
  for (const piece of pieces) decoder.push(piece);
  return frames;
}

/** The engine's multiplexing: [stream, 0, 0, 0, size32] then size bytes. */
function engineFrame(kind: 1 | 2, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = kind;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('FrameDecoder: frames split across reads', () => {
  test('split in two at every byte boundary', () => {
    for (let at = 0; at <= stream.length; at++) {
      assert.deepEqual(decoded([stream.subarray(0, at), stream.subarray(at)]), expected, `split at ${at}`);
    }
  });

  test('split in three around every header', () => {
    const starts: number[] = [];
    for (let at = 0; at < stream.length; ) {
      starts.push(at);
      at += FRAME_HEADER_BYTES + stream.readUInt32BE(at + 5);
    }
    for (const start of starts) {
      for (let first = Math.max(0, start - 3); first <= start + FRAME_HEADER_BYTES; first++) {
        for (let second = first; second <= Math.min(stream.length, start + FRAME_HEADER_BYTES + 3); second++) {
          assert.deepEqual(decoded([stream.subarray(0, first), stream.subarray(first, second), stream.subarray(second)]), expected, `split at ${first}, ${second}`);
        }
      }
    }
  });

  test('a maximum-size frame in 64 KiB reads, with the next frame in its last read', () => {
    const payload = patterned(MAX_FRAME_PAYLOAD);
    const bytes = Buffer.concat([frame(FRAME.DATA, 9, payload), frame(FRAME.END, 9)]);
    const pieces: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 64 * 1024) pieces.push(bytes.subarray(at, at + 64 * 1024));
    const frames = decoded(pieces);
    assert.equal(frames.length, 2);
    assert.equal(frames[0].payload, payload.toString('latin1'));
    assert.deepEqual(frames[1], { type: FRAME.END, id: 9, payload: '' });
  });

  test('an oversized length split across reads throws as soon as its header is whole, after the frames before it', () => {
    const bytes = Buffer.concat([frame(FRAME.OPEN, 1), frameHeader(FRAME.DATA, 1, MAX_FRAME_PAYLOAD + 1)]);
    for (let at = 1; at < bytes.length; at++) {
      const frames: number[] = [];
      const decoder = new FrameDecoder((type) => frames.push(type));
      decoder.push(bytes.subarray(0, at));
      assert.throws(() => decoder.push(bytes.subarray(at)), FrameError, `split at ${at}`);
      assert.deepEqual(frames, [FRAME.OPEN]);
    }
  });
});

describe('readRelayStream: the relay exec output, fail closed', () => {
  function reader() {
    const exec = new PassThrough();
    const frames: Frame[] = [];
    const errors: string[] = [];
    let stderr = '';
    readRelayStream(exec, {
      frame: (type, id, payload) => frames.push({ type, id, payload: payload.toString('latin1') }),
      stderr: (text) => (stderr += text),
      protocolError: (message) => errors.push(message),
    });
    return { exec, frames, errors, stderr: () => stderr };
  }

  test('frames spread over engine frames and reads, at every boundary, with stderr beside them', async () => {
    const cut = 1000;
    const muxed = Buffer.concat([engineFrame(1, stream.subarray(0, cut)), engineFrame(2, Buffer.from('relay: warming up\n')), engineFrame(1, stream.subarray(cut))]);
    for (let at = 0; at <= muxed.length; at++) {
      const { exec, frames, stderr } = reader();
      exec.write(muxed.subarray(0, at));
      exec.write(muxed.subarray(at));
      while (exec.readableLength > 0 || exec.writableLength > 0) await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(frames, expected, `split at ${at}`);
      assert.equal(stderr(), 'relay: warming up\n');
    }
  });

  test('a frame no honest relay sends destroys the stream; nothing after it is decoded, even in the same read', async () => {
    const { exec, frames, errors } = reader();
    const bad = frameHeader(FRAME.PING, 5, 0);
    bad[0] = FRAME.SHUTDOWN + 1;
    exec.write(engineFrame(1, Buffer.concat([frame(FRAME.OPEN, 5), bad, frame(FRAME.OPEN, 6)])));
    exec.write(engineFrame(1, frame(FRAME.OPEN, 7)));
    await until('the stream destroyed', () => exec.destroyed);
    assert.deepEqual(frames.map((f) => f.id), [5]);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /unknown frame type/);
  });

  test('a frame over the size limit is cut off at its header', async () => {
    const { exec, frames, errors } = reader();
    exec.write(engineFrame(1, frameHeader(FRAME.DATA, 5, MAX_FRAME_PAYLOAD + 1)));
    await until('the stream destroyed', () => exec.destroyed);
    assert.deepEqual(frames, []);
    assert.match(errors[0], /over the/);
  });
});

describe('relayLinkSender: a window before the link reports full', () => {
  /** An exec stream whose far end takes nothing until released. */
  function heldStream() {
    const written: Buffer[] = [];
    const writes: number[] = [];
    let release: (() => void) | undefined;
    const stream = new Duplex({
      read() {},
      writev(chunks, callback) {
        for (const { chunk } of chunks) written.push(chunk as Buffer);
        writes.push(chunks.length);
        release = () => callback();
      },
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk);
        writes.push(1);
        release = () => callback();
      },
    });
    return { stream, written, writes, release: () => release?.() };
  }

  test('true until more than the window waits, then false and a drain once it is taken', async () => {
    const { stream, written, release } = heldStream();
    const link = relayLinkSender(stream);
    const payload = Buffer.alloc(300 * 1024, 0x61);
    let queued = 0;
    for (;;) {
      const ok = link.send(FRAME.DATA, 1, payload);
      queued += FRAME_HEADER_BYTES + payload.length;
      assert.equal(ok, queued <= LINK_WINDOW, `answer with ${queued} bytes queued`);
      if (!ok) break;
    }
    const drained = new Promise<void>((resolve) => stream.once('drain', resolve));
    while (stream.writableLength > 0) {
      release();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await drained;
    assert.equal(link.send(FRAME.PING, 0), true);
    // Header then payload, in order, the payload not copied.
    assert.deepEqual([...written[0]], [...frameHeader(FRAME.DATA, 1, payload.length)]);
    assert.equal(written[1], payload);
  });

  test('frames sent in one tick leave in one write, in order and not copied', async () => {
    const { stream, written, writes } = heldStream();
    const link = relayLinkSender(stream);
    const payloads = [0, 1, 2].map((n) => Buffer.alloc(1000, n));
    for (const [n, payload] of payloads.entries()) link.send(FRAME.DATA, n, payload);
    link.send(FRAME.END, 2);
    assert.deepEqual(writes, [], 'nothing written within the tick');
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepEqual(writes, [7]);
    assert.deepEqual(written.filter((_chunk, at) => at % 2 === 1 && at < 6), payloads);
    assert.ok(written[1] === payloads[0]);
    assert.deepEqual([...written[6]], [...frameHeader(FRAME.END, 2, 0)]);
  });

  test('a closed link takes frames as sent, so nothing waits on a drain that never comes', () => {
    const { stream, written } = heldStream();
    stream.destroy();
    assert.equal(relayLinkSender(stream).send(FRAME.DATA, 1, Buffer.alloc(LINK_WINDOW + 1)), true);
    assert.deepEqual(written, []);
  });
});
