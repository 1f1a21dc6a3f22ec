import type { Duplex } from 'node:stream';
import { engineStreamDemux } from '../exec/engineStreamDemux.js';
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

/**
 * Reads the relay exec's output, demultiplexed as it streams in (engineStreamDemux: an engine frame
 * split across reads is never joined, and with these synchronous sinks the stream is never held
 * back: per-connection PAUSE frames are the backpressure). A frame no honest relay sends destroys
 * the stream there and then: nothing after it is decoded, and the gateway ends with its relay
 * (fail closed).
 */
export function readRelayStream(stream: Duplex, handlers: RelayStreamHandlers): void {
  const decoder = new FrameDecoder(handlers.frame);
  const frames = (piece: Buffer) => {
    if (stream.destroyed) return;
    try {
      decoder.push(piece);
    } catch (error) {
      stream.destroy();
      handlers.protocolError((error as Error).message);
    }
  };
  stream.pipe(engineStreamDemux(frames, (piece) => handlers.stderr(piece.toString('utf8'))));
}
