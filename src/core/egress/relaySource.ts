import { FRAME, FRAME_HEADER_BYTES, MAX_FRAME_PAYLOAD } from './relayProtocol.js';

/** Seconds without any frame from the host after which the relay exits (the host pings every 5 s). */
export const RELAY_SILENCE_LIMIT_S = 30;

/**
 * The relay that runs inside the task, as its own unprivileged user, on the task's loopback-only
 * network: it accepts connections on 127.0.0.1:PORT and carries their bytes to the host as frames.
 * Node built-ins only. stdout/stdin are wrapped as non-blocking sockets: node's process.stdout
 * blocks on pipes, which would stall reading while writing and couple the two directions.
 */
export const RELAY_SOURCE = `'use strict';
const net = require('net');
const F = ${JSON.stringify(FRAME)};
const HEADER = ${FRAME_HEADER_BYTES};
const MAX = ${MAX_FRAME_PAYLOAD};
const port = Number(process.argv[1]);
const out = new net.Socket({ fd: 1, readable: false, writable: true });
const input = new net.Socket({ fd: 0, readable: true, writable: false });
const clients = new Map();
let nextId = 1;
let outBlocked = false;
let heard = Date.now();
const quit = (code) => { try { out.end(); } catch {} process.exit(code); };
function send(type, id, payload) {
  const header = Buffer.allocUnsafe(HEADER);
  header[0] = type;
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(payload ? payload.length : 0, 5);
  out.cork();
  out.write(header);
  const ok = payload ? out.write(payload) : true;
  process.nextTick(() => out.uncork());
  if (!ok && !outBlocked) {
    outBlocked = true;
    for (const client of clients.values()) client.pause();
  }
}
out.on('drain', () => {
  outBlocked = false;
  for (const client of clients.values()) if (!client.hostPaused) client.resume();
});
out.on('error', () => quit(0));
const server = net.createServer((socket) => {
  const id = nextId;
  nextId = nextId >= 0xfffffff0 ? 1 : nextId + 1;
  socket.hostPaused = false;
  clients.set(id, socket);
  socket.setNoDelay(true);
  send(F.OPEN, id);
  if (outBlocked) socket.pause();
  socket.on('data', (data) => {
    for (let at = 0; at < data.length; at += MAX) send(F.DATA, id, data.subarray(at, at + MAX));
  });
  socket.on('end', () => send(F.END, id));
  socket.on('drain', () => send(F.RESUME, id));
  socket.on('error', () => {});
  socket.on('close', () => { if (clients.delete(id)) send(F.CLOSE, id); });
});
server.on('error', (error) => { process.stderr.write('relay: ' + error.message + '\\n'); quit(3); });
server.listen({ host: '127.0.0.1', port, exclusive: true }, () => send(F.READY, 0, Buffer.from(JSON.stringify({ port, pid: process.pid }))));
function onFrame(type, id, payload) {
  heard = Date.now();
  if (type === F.SHUTDOWN) return quit(0);
  const socket = clients.get(id);
  if (!socket) return;
  if (type === F.DATA) { if (!socket.write(payload)) send(F.PAUSE, id); }
  else if (type === F.END) { socket.end(); setTimeout(() => socket.destroy(), 10000).unref(); }
  else if (type === F.CLOSE) { clients.delete(id); socket.destroy(); }
  else if (type === F.PAUSE) { socket.hostPaused = true; socket.pause(); }
  else if (type === F.RESUME) { socket.hostPaused = false; if (!outBlocked) socket.resume(); }
}
// Partial frames wait in a list and are joined once, when the frame is complete.
let parts = [];
let partsBytes = 0;
let need = HEADER;
input.on('data', (chunk) => {
  if (partsBytes + chunk.length < need) { parts.push(chunk); partsBytes += chunk.length; return; }
  let data = partsBytes ? Buffer.concat([...parts, chunk]) : chunk;
  parts = [];
  partsBytes = 0;
  let at = 0;
  while (data.length - at >= HEADER) {
    const length = data.readUInt32BE(at + 5);
    if (length > MAX) quit(4);
    if (data.length - at < HEADER + length) break;
    onFrame(data[at], data.readUInt32BE(at + 1), data.subarray(at + HEADER, at + HEADER + length));
    at += HEADER + length;
  }
  if (at < data.length) { parts.push(data.subarray(at)); partsBytes = data.length - at; }
  need = partsBytes >= HEADER ? HEADER + data.readUInt32BE(at + 5) : HEADER;
});
input.on('end', () => quit(0));
input.on('error', () => quit(0));
setInterval(() => { if (Date.now() - heard > ${RELAY_SILENCE_LIMIT_S} * 1000) quit(5); }, 1000);
`;
