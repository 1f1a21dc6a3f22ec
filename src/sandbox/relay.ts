/**
 * The relay that runs inside the task, as its own unprivileged user, on the task's loopback-only
 * network: it accepts connections on 127.0.0.1:PORT (its only argument) and carries their bytes to
 * the host as frames (src/core/egress/relayProtocol.ts). It decides nothing.
 * stdout/stdin are wrapped as non-blocking sockets: node's process.stdout blocks on pipes, which
 * would stall reading while writing and couple the two directions.
 */
import { createServer, Socket } from 'node:net';
import { FRAME, FRAME_HEADER_BYTES, frameHeader, MAX_FRAME_PAYLOAD, RELAY_SILENCE_LIMIT_S, type FrameType } from '../core/egress/relayProtocol.js';

interface Client {
  socket: Socket;
  /** The host asked for a pause (its end of this connection is full). */
  hostPaused: boolean;
}

const port = Number(process.argv[1]);
const out = new Socket({ fd: 1, readable: false, writable: true });
const input = new Socket({ fd: 0, readable: true, writable: false });
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
  clients.set(id, { socket, hostPaused: false });
  socket.setNoDelay(true);
  send(FRAME.OPEN, id);
  if (outBlocked) socket.pause();
  socket.on('data', (data: Buffer) => {
    for (let at = 0; at < data.length; at += MAX_FRAME_PAYLOAD) send(FRAME.DATA, id, data.subarray(at, at + MAX_FRAME_PAYLOAD));
  });
  socket.on('end', () => send(FRAME.END, id));
  socket.on('drain', () => send(FRAME.RESUME, id));
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

function onFrame(type: number, id: number, payload: Buffer): void {
  heard = Date.now();
  if (type === FRAME.SHUTDOWN) return quit(0);
  const client = clients.get(id);
  if (!client) return;
  const { socket } = client;
  if (type === FRAME.DATA) {
    if (!socket.write(payload)) send(FRAME.PAUSE, id);
  } else if (type === FRAME.END) {
    socket.end();
    setTimeout(() => socket.destroy(), 10000).unref();
  } else if (type === FRAME.CLOSE) {
    clients.delete(id);
    socket.destroy();
  } else if (type === FRAME.PAUSE) {
    client.hostPaused = true;
    socket.pause();
  } else if (type === FRAME.RESUME) {
    client.hostPaused = false;
    if (!outBlocked) socket.resume();
  }
}

// Partial frames wait in a list and are joined once, when the frame is complete.
let parts: Buffer[] = [];
let partsBytes = 0;
let need = FRAME_HEADER_BYTES;
input.on('data', (chunk: Buffer) => {
  if (partsBytes + chunk.length < need) {
    parts.push(chunk);
    partsBytes += chunk.length;
    return;
  }
  const data = partsBytes ? Buffer.concat([...parts, chunk]) : chunk;
  parts = [];
  partsBytes = 0;
  let at = 0;
  while (data.length - at >= FRAME_HEADER_BYTES) {
    const length = data.readUInt32BE(at + 5);
    if (length > MAX_FRAME_PAYLOAD) quit(4);
    if (data.length - at < FRAME_HEADER_BYTES + length) break;
    onFrame(data[at], data.readUInt32BE(at + 1), data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length));
    at += FRAME_HEADER_BYTES + length;
  }
  if (at < data.length) {
    parts.push(data.subarray(at));
    partsBytes = data.length - at;
  }
  need = partsBytes >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + data.readUInt32BE(at + 5) : FRAME_HEADER_BYTES;
});
input.on('end', () => quit(0));
input.on('error', () => quit(0));
setInterval(() => {
  if (Date.now() - heard > RELAY_SILENCE_LIMIT_S * 1000) quit(5);
}, 1000);
