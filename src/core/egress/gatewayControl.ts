import * as fs from 'node:fs';
import * as net from 'node:net';
import { z } from 'zod';
import { NETWORK_PHASES } from './egressRules.js';

/** What front ends may ask a running gateway, over a Unix socket in the task's (0700) state folder. */
export const controlRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('status') }).strict(),
  z.object({ op: z.literal('phase'), phase: z.enum(NETWORK_PHASES) }).strict(),
  z.object({ op: z.literal('shutdown') }).strict(),
]);
export type ControlRequest = z.infer<typeof controlRequestSchema>;

export const controlReplySchema = z.object({
  ok: z.boolean(),
  error: z.string().optional(),
  phase: z.enum(NETWORK_PHASES).optional(),
  connections: z.number().optional(),
  pid: z.number().optional(),
  relayPid: z.number().optional(),
  closedConnections: z.number().optional(),
});
export type ControlReply = z.infer<typeof controlReplySchema>;

const MAX_LINE = 64 * 1024;

/** Unix socket paths are limited to about 107 bytes on Linux. */
export const MAX_SOCKET_PATH = 100;

export async function serveControl(socketPath: string, handle: (request: ControlRequest) => Promise<ControlReply>): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (text: string) => {
      buffered += text;
      if (buffered.length > MAX_LINE) return socket.destroy();
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      const line = buffered.slice(0, newline);
      buffered = '';
      let parsed: ControlRequest;
      try {
        parsed = controlRequestSchema.parse(JSON.parse(line));
      } catch (error) {
        socket.end(JSON.stringify({ ok: false, error: `bad control request: ${(error as Error).message.split('\n')[0]}` }) + '\n');
        return;
      }
      handle(parsed).then(
        (reply) => socket.end(JSON.stringify(reply) + '\n'),
        (error: Error) => socket.end(JSON.stringify({ ok: false, error: error.message }) + '\n'),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  fs.chmodSync(socketPath, 0o600);
  return server;
}

/** One request, one reply; rejects when nothing listens or it does not answer in time. */
export function controlRequest(socketPath: string, request: ControlRequest, timeoutMs = 5000): Promise<ControlReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffered = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the gateway did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (text: string) => {
      buffered += text;
      if (buffered.length > MAX_LINE) socket.destroy(new Error('oversized reply'));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(controlReplySchema.parse(JSON.parse(buffered)));
      } catch (error) {
        reject(error);
      }
    });
  });
}
