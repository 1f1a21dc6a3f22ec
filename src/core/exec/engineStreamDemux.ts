import { Writable } from 'node:stream';

/** Takes one piece of a command's output; a returned promise holds back everything after it. */
export type ChunkSink = (chunk: Buffer) => void | Promise<void>;

const HEADER = 8;

/**
 * The engine's multiplexed exec stream ([stream, 0, 0, 0, size32] then size bytes) split into
 * stdout and stderr. Piped into, it takes nothing more from the engine while a sink's promise is
 * pending, so a slow consumer slows the socket, the engine and finally the process in the box
 * (dockerode's demuxStream writes on regardless, and the host buffers without limit). Payloads are
 * passed on in the pieces they arrive in: a size field chosen in the box never sizes a buffer here.
 */
export function engineStreamDemux(stdout: ChunkSink, stderr: ChunkSink): Writable {
  const header = Buffer.alloc(HEADER);
  let headerFill = 0;
  let remaining = 0;
  let sink: ChunkSink = stdout;
  const consume = async (chunk: Buffer) => {
    let at = 0;
    while (at < chunk.length) {
      if (remaining === 0) {
        const take = Math.min(HEADER - headerFill, chunk.length - at);
        chunk.copy(header, headerFill, at, at + take);
        headerFill += take;
        at += take;
        if (headerFill < HEADER) return;
        headerFill = 0;
        // 2 is stderr; 0 (stdin, echoed) and 1 are stdout, as the engine's own clients treat them.
        sink = header[0] === 2 ? stderr : stdout;
        remaining = header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(remaining, chunk.length - at);
      const piece = chunk.subarray(at, at + take);
      at += take;
      remaining -= take;
      const pending = sink(piece);
      if (pending) await pending;
    }
  };
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      consume(chunk).then(() => callback(), callback);
    },
  });
}

/** A TTY exec's stream is raw output: the same backpressure, without the framing. */
export function rawStreamSink(stdout: ChunkSink): Writable {
  return new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _encoding, callback) {
      const pending = stdout(chunk);
      if (pending) pending.then(() => callback(), callback);
      else callback();
    },
  });
}
