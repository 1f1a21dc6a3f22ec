/**
 * The relay that runs inside the task, as its own unprivileged user, on the task's loopback-only
 * network: it accepts connections on 127.0.0.1:PORT (its only argument) and carries their bytes to
 * the host as frames (src/core/egress/relayProtocol.ts). It decides nothing.
 * stdout/stdin are wrapped as non-blocking sockets: node's process.stdout blocks on pipes, which
 * would stall reading while writing and couple the two directions.
 */
import { createServer, type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';
import { FRAME, FRAME_HEADER_BYTES, frameHeader, MAX_FRAME_PAYLOAD, RELAY_SILENCE_LIMIT_S, type FrameType } from '../core/egress/relayProtocol.js';
import { slabReads } from './slabReads.js';

interface Client {
  id: number;
  socket: Socket;
  /** This side asked the host to pause (the socket to the sandbox is full); cleared on drain. */
  pauseSent: boolean;
  /** The host asked for a pause (its end of this connection is full). */
  hostPaused: boolean;
}

/** Bytes waiting for one sandbox socket before the host is asked to PAUSE that connection. */
const CONNECTION_WINDOW = 1024 * 1024;

const port = Number(process.argv[1]);
const out = new Socket({ fd: 1, readable: false, writable: true });
const clients = new Map<number, Client>();
let nextId = 1;
let outBlocked = false;
let heard = Date.now();

function quit(code: number): never {
  try {
    out.end();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

function send(type: FrameType, id: number, payload?: Buffer): void {
  out.cork();
  out.write(frameHeader(type, id, payload ? payload.length : 0));
  const ok = payload ? out.write(payload) : true;
  process.nextTick(() => out.uncork());
  if (!ok && !outBlocked) {
    outBlocked = true;
    for (const client of clients.values()) client.socket.pause();
  }
}

out.on('drain', () => {
  outBlocked = false;
  for (const client of clients.values()) if (!client.hostPaused) client.socket.resume();
});
out.on('error', () => quit(0));

const server = createServer((socket) => {
  const id = nextId;
  nextId = nextId >= 0xfffffff0 ? 1 : nextId + 1;
  const client: Client = { id, socket, pauseSent: false, hostPaused: false };
  clients.set(id, client);
  socket.setNoDelay(true);
  send(FRAME.OPEN, id);
  if (outBlocked) socket.pause();
  socket.on('data', (data: Buffer) => {
    for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD) send(FRAME.DATA, id, data.subarray(at, at + MAX_FRAME_PAYLOAD));
  });
  socket.on('end', () => send(FRAME.END, id));
  socket.on('drain', () => {
    if (!client.pauseSent) return;
    client.pauseSent = false;
    send(FRAME.RESUME, id);
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    if (clients.delete(id)) send(FRAME.CLOSE, id);
  });
});
server.on('error', (error) => {
  process.stderr.write('relay: ' + error.message + '\n');
  quit(3);
});
server.listen({ host: '127.0.0.1', port, exclusive: true }, () => send(FRAME.READY, 0, Buffer.from(JSON.stringify({ port, pid: process.pid }))));

function onFrame(type: number, client: Client | undefined): void {
  if (type === FRAME.SHUTDOWN) return quit(0);
  if (!client) return;
  const { socket } = client;
  if (type === FRAME.END) {
    socket.end();
    setTimeout(() => socket.destroy(), 10000).unref();
  } else if (type === FRAME.CLOSE) {
    clients.delete(client.id);
    socket.destroy();
  } else if (type === FRAME.PAUSE) {
    client.hostPaused = true;
    socket.pause();
  } else if (type === FRAME.RESUME) {
    client.hostPaused = false;
    if (!outBlocked) socket.resume();
  }
}

// The host's frames are parsed as they stream in: a DATA payload is written to its connection
// piece by piece as it arrives, never joined, so a frame of any size costs no copy and no buffer
// of its size here. Only a header split across two reads is copied (9 bytes).
const header = Buffer.alloc(FRAME_HEADER_BYTES);
let headerFill = 0;
/** Payload bytes of the current frame still to come, and where they go. */
let remaining = 0;
let dataFor: Client | undefined;
function onInput(data: Buffer): void {
  let at = 0;
  while (at < data.length) {
    if (remaining > 0) {
      const take = Math.min(remaining, data.length - at);
      if (dataFor) writeToClient(dataFor, data.subarray(at, at + take));
      at += take;
      remaining -= take;
      continue;
    }
    const take = Math.min(FRAME_HEADER_BYTES - headerFill, data.length - at);
    data.copy(header, headerFill, at, at + take);
    headerFill += take;
    at += take;
    if (headerFill < FRAME_HEADER_BYTES) return;
    headerFill = 0;
    remaining = header.readUInt32BE(5);
    if (remaining > MAX_FRAME_PAYLOAD) quit(4);
    heard = Date.now();
    const type = header[0];
    const client = clients.get(header.readUInt32BE(1));
    // Payloads of other frame types carry nothing the relay needs: they are skipped.
    dataFor = type === FRAME.DATA ? client : undefined;
    if (type !== FRAME.DATA) onFrame(type, client);
  }
}

// The host is asked to pause a connection only once a window's worth waits for its socket, not
// whenever a write passes the socket's 16 KiB mark: that would be a PAUSE and a RESUME crossing
// the engine for every read of a download, and the host's end stalling at each.
function writeToClient(client: Client, piece: Buffer): void {
  // The sandbox may have closed its end while the host was still sending (CLOSE is on its way).
  if (client.socket.destroyed) return;
  client.socket.write(piece);
  if (!client.pauseSent && client.socket.writableLength > CONNECTION_WINDOW) {
    client.pauseSent = true;
    send(FRAME.PAUSE, client.id);
  }
}

// The engine's pipe gives at most 64 KiB a read. Slabs spare an allocation per read (measured:
// an eighth to a quarter of the relay's CPU in a download) and let each piece go on to its
// connection without a copy. (Socket's constructor takes `onread` as net.connect does; the types
// list it for connect only.)
const inputOptions: SocketConstructorOpts & { onread: OnReadOpts } = { fd: 0, readable: true, writable: false, onread: slabReads(onInput, { slabBytes: 1024 * 1024, maxRead: 1024 * 1024, minRead: 64 * 1024 }) };
const input = new Socket(inputOptions);
input.resume();
input.on('end', () => quit(0));
input.on('error', () => quit(0));
setInterval(() => {
  if (Date.now() - heard > RELAY_SILENCE_LIMIT_S * 1000) quit(5);
}, 1000);
