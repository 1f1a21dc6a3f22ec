import type { Duplex } from 'node:stream';
import type { RelayLink } from './egressBroker.js';
import { FrameDecoder, frameHeader, type FrameType } from './relayProtocol.js';

/**
 * Bytes queued for the relay before the link reports itself full. Reporting full at the stream's
 * own 16 KiB mark would pause every destination after each frame of a download and leave the
 * engine idle until they were read again; past that mark the stream owes a 'drain' all the same,
 * which is what resumes them.
 */
export const LINK_WINDOW = 4 * 1024 * 1024;

/** Frames into the relay exec's stdin; `send` is false once more than the window waits. */
export function relayLinkSender(stream: Duplex, window = LINK_WINDOW): RelayLink {
  let corked = false;
  return {
    send: (type: FrameType, id: number, payload?: Buffer) => {
      if (stream.destroyed || stream.writableEnded) return true;
      // Corked until the end of this tick: every frame sent meanwhile (libuv reads a socket up to
      // 32 times a turn) leaves in one writev, payloads not copied.
      if (!corked) {
        corked = true;
        stream.cork();
        process.nextTick(() => {
          corked = false;
          stream.uncork();
        });
      }
      stream.write(frameHeader(type, id, payload ? payload.length : 0));
      if (payload) stream.write(payload);
      return stream.writableLength <= window;
    },
  };
}

export interface RelayStreamHandlers {
  frame: (type: number, id: number, payload: Buffer) => void;
  stderr: (text: string) => void;
  /** The relay sent a frame no honest relay sends; the stream is already destroyed. */
  protocolError: (message: string) => void;
}

/** The engine multiplexes an exec's stdout and stderr: [stream, 0, 0, 0, size32] then size bytes. */
const ENGINE_HEADER_BYTES = 8;

/**
 * Reads the relay exec's output, demultiplexed as it streams in: an engine frame split across
 * reads is never joined, and the stream is never paused here (per-connection PAUSE frames are the
 * backpressure; pausing the whole stream per read would cost a stop and a restart of every read
 * of an upload). A frame no honest relay sends destroys the stream there and then: nothing after
 * it is decoded, and the gateway ends with its relay (fail closed).
 */
export function readRelayStream(stream: Duplex, handlers: RelayStreamHandlers): void {
  const decoder = new FrameDecoder(handlers.frame);
  const header = Buffer.alloc(ENGINE_HEADER_BYTES);
  let headerFill = 0;
  let remaining = 0;
  let toStderr = false;
  const take = (piece: Buffer) => {
    if (toStderr) return handlers.stderr(piece.toString('utf8'));
    try {
      decoder.push(piece);
    } catch (error) {
      stream.destroy();
      handlers.protocolError((error as Error).message);
    }
  };
  stream.on('data', (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length && !stream.destroyed) {
      if (remaining > 0) {
        const size = Math.min(remaining, chunk.length - at);
        take(chunk.subarray(at, at + size));
        at += size;
        remaining -= size;
        continue;
      }
      const size = Math.min(ENGINE_HEADER_BYTES - headerFill, chunk.length - at);
      chunk.copy(header, headerFill, at, at + size);
      headerFill += size;
      at += size;
      if (headerFill < ENGINE_HEADER_BYTES) return;
      headerFill = 0;
      toStderr = header[0] === 2;
      remaining = header.readUInt32BE(4);
    }
  });
}
