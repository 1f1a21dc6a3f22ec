import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as net from 'node:net';
import { FRAME, FrameDecoder, frameHeader, MAX_FRAME_PAYLOAD, type FrameType } from '../../src/core/egress/relayProtocol.js';
import { IN_BOX_PATH } from '../../src/core/exec/inBoxProgram.js';
import { sandboxProgram } from '../../src/core/exec/sandboxPrograms.js';
import { sleep, until } from '../helpers/until.js';



async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Frame {
  type: number;
  id: number;
  payload: Buffer;
}

/** The host's end: the relay started the way inBoxProgram starts it, its frames read with the host's decoder. */
class Relay {
  readonly child: ChildProcessWithoutNullStreams;
  readonly frames: Frame[] = [];
  readonly exited: Promise<number | null>;
  stderr = '';

  constructor(port: number) {
    this.child = spawn('env', ['-i', `PATH=${IN_BOX_PATH}`, process.execPath, '-e', sandboxProgram('relay'), String(port)]);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    const decoder = new FrameDecoder((type, id, payload) => this.frames.push({ type, id, payload: Buffer.from(payload) }));
    this.child.stdout.on('data', (chunk: Buffer) => decoder.push(chunk));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
  }

  send(type: FrameType, id: number, payload?: Buffer): void {
    this.child.stdin.write(Buffer.concat([frameHeader(type, id, payload?.length ?? 0), payload ?? Buffer.alloc(0)]));
  }

  frame(type: FrameType, id?: number): Promise<Frame> {
    return until(`frame type ${type}`, () => this.frames.find((frame) => frame.type === type && (id === undefined || frame.id === id)));
  }

  /** The DATA payloads of one connection, joined. */
  data(id: number): Buffer {
    return Buffer.concat(this.frames.filter((frame) => frame.type === FRAME.DATA && frame.id === id).map((frame) => frame.payload));
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** A started relay and one sandbox-side connection to it. */
async function connected(): Promise<{ relay: Relay; port: number; client: net.Socket; id: number; received: () => Buffer }> {
  const port = await freePort();
  const relay = new Relay(port);
  await relay.frame(FRAME.READY);
  const client = net.connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  client.on('data', (chunk: Buffer) => chunks.push(chunk));
  const { id } = await relay.frame(FRAME.OPEN);
  return { relay, port, client, id, received: () => Buffer.concat(chunks) };
}

describe('the in-box egress relay, under host node', () => {
  test('says ready with its port and pid, on a frame of id 0', async () => {
    const port = await freePort();
    const relay = new Relay(port);
    try {
      const ready = await relay.frame(FRAME.READY);
      assert.equal(ready.id, 0);
      assert.deepEqual(JSON.parse(ready.payload.toString()), { port, pid: relay.child.pid });
      relay.send(FRAME.SHUTDOWN, 0);
      assert.equal(await relay.exited, 0);
    } finally {
      relay.stop();
    }
  });

  test('carries a loopback connection\'s bytes both ways as frames, through its half-close and close', async () => {
    const { relay, client, id, received } = await connected();
    try {
      assert.ok(id > 0);
      client.write('hello from the box');
      await until('the bytes as DATA', () => relay.data(id).toString() === 'hello from the box');
      relay.send(FRAME.DATA, id, Buffer.from('hello from the host'));
      await until('the bytes at the client', () => received().toString() === 'hello from the host');

      const clientSawEnd = new Promise<void>((resolve) => client.once('end', resolve));
      client.end();
      await relay.frame(FRAME.END, id);
      relay.send(FRAME.END, id);
      await clientSawEnd;
      await relay.frame(FRAME.CLOSE, id);
    } finally {
      client.destroy();
      relay.stop();
    }
  });

  test('large writes arrive whole and in order, in frames no larger than the limit', async () => {
    const { relay, client, id, received } = await connected();
    try {
      const upload = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < upload.length; i++) upload[i] = (i * 7) % 251;
      client.write(upload);
      await until('the whole upload', () => relay.data(id).length === upload.length);
      assert.ok(relay.data(id).equals(upload));
      assert.ok(relay.frames.every((frame) => frame.payload.length <= MAX_FRAME_PAYLOAD));

      // The host's frames may come in any slicing: one byte at a time here.
      const download = Buffer.from('sliced into single bytes');
      const frame = Buffer.concat([frameHeader(FRAME.DATA, id, download.length), download]);
      for (const byte of frame) {
        relay.child.stdin.write(Buffer.from([byte]));
        await sleep(1);
      }
      await until('the sliced frame at the client', () => received().equals(download));
    } finally {
      client.destroy();
      relay.stop();
    }
  });

  test('host frames split at every byte boundary reach the right connection; other payloads and unknown ids are skipped', async () => {
    const { relay, port, client: first, id: a, received: toFirst } = await connected();
    const second = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    second.on('data', (chunk: Buffer) => chunks.push(chunk));
    try {
      const { id: b } = await until('the second OPEN', () => relay.frames.find((frame) => frame.type === FRAME.OPEN && frame.id !== a));
      const frame = (type: FrameType, id: number, payload = '') => Buffer.concat([frameHeader(type, id, payload.length), Buffer.from(payload)]);
      const round = Buffer.concat([frame(FRAME.DATA, a, 'alpha-'), frame(FRAME.PING, 0, 'ignored'), frame(FRAME.DATA, b, 'bravo-'), frame(FRAME.DATA, 0xfffffff0, 'nobody'), frame(FRAME.PAUSE, b), frame(FRAME.RESUME, b), frame(FRAME.DATA, a, '')]);
      for (let at = 0; at <= round.length; at++) {
        relay.child.stdin.write(round.subarray(0, at));
        await sleep(1);
        relay.child.stdin.write(round.subarray(at));
        await sleep(1);
      }
      const rounds = round.length + 1;
      await until('every round at both clients', () => toFirst().length >= 6 * rounds && Buffer.concat(chunks).length >= 6 * rounds);
      assert.equal(toFirst().toString(), 'alpha-'.repeat(rounds));
      assert.equal(Buffer.concat(chunks).toString(), 'bravo-'.repeat(rounds));
    } finally {
      first.destroy();
      second.destroy();
      relay.stop();
    }
  });

  test('asks the host to PAUSE once a window waits for a slow client, and to RESUME once, when it is written', async () => {
    const { relay, client, id } = await connected();
    try {
      client.pause();
      // More than loopback's socket buffers can take, so bytes wait in the relay.
      const download = Buffer.alloc(40 * 1024 * 1024);
      for (let i = 0; i < download.length; i += 4096) download[i] = (i >> 12) % 251;
      for (let at = 0; at < download.length; at += MAX_FRAME_PAYLOAD) relay.send(FRAME.DATA, id, download.subarray(at, at + MAX_FRAME_PAYLOAD));
      await relay.frame(FRAME.PAUSE, id);
      await sleep(300);
      const count = (type: FrameType) => relay.frames.filter((frame) => frame.type === type && frame.id === id).length;
      assert.equal(count(FRAME.PAUSE), 1);
      assert.equal(count(FRAME.RESUME), 0);
      const chunks: Buffer[] = [];
      let bytes = 0;
      client.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        bytes += chunk.length;
      });
      client.resume();
      await until('the whole download', () => bytes >= download.length, 20_000);
      await relay.frame(FRAME.RESUME, id);
      assert.ok(Buffer.concat(chunks).equals(download));
      assert.equal(count(FRAME.PAUSE), 1);
      assert.equal(count(FRAME.RESUME), 1);
    } finally {
      client.destroy();
      relay.stop();
    }
  });

  test('a host PAUSE stops reading that connection until RESUME', async () => {
    const { relay, client, id } = await connected();
    try {
      relay.send(FRAME.PAUSE, id);
      await sleep(100);
      client.write('held back');
      await sleep(300);
      assert.equal(relay.data(id).length, 0);
      relay.send(FRAME.RESUME, id);
      await until('the held bytes', () => relay.data(id).toString() === 'held back');
    } finally {
      client.destroy();
      relay.stop();
    }
  });

  test('exits on a frame over the size limit (4), on a taken port (3), and when the host closes its pipe (0)', async () => {
    const { relay, client } = await connected();
    try {
      relay.child.stdin.write(frameHeader(FRAME.DATA, 1, MAX_FRAME_PAYLOAD + 1));
      assert.equal(await relay.exited, 4);
    } finally {
      client.destroy();
      relay.stop();
    }

    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const second = new Relay((taken.address() as net.AddressInfo).port);
    try {
      assert.equal(await second.exited, 3);
      assert.match(second.stderr, /^relay: .*EADDRINUSE/);
    } finally {
      second.stop();
      taken.close();
    }

    const third = new Relay(await freePort());
    try {
      await third.frame(FRAME.READY);
      third.child.stdin.end();
      assert.equal(await third.exited, 0);
    } finally {
      third.stop();
    }
  });
});
