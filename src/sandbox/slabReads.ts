/**
 * `onread` options for a net.Socket whose reads land, one after another, in large slabs: a read
 * allocates nothing, and each read is handed on as a view of its slab, so it can be written on
 * without a copy. A slab is never written twice: it is dropped for a fresh one when little room is
 * left, and freed once the last view of it is gone.
 *
 * For the relay, whose heap is small. In a large heap (the extension host, a bench) slabs of a
 * megabyte held while a slow link drains were measured to trigger a mark-compact every few reads:
 * the host side keeps node's own read buffers.
 */
export interface SlabReadOptions {
  /** Bytes per slab. */
  slabBytes: number;
  /** The most one read may take (the frame payload limit, for reads that become one frame). */
  maxRead: number;
  /** A new slab is started when less than this is left in the current one. */
  minRead: number;
}

export interface SlabReads {
  buffer: () => Buffer;
  /** Returning false pauses the socket, as `onread` defines. */
  callback: (bytes: number, buffer: Uint8Array) => boolean;
}

export function slabReads(onData: (data: Buffer) => boolean | void, options: SlabReadOptions): SlabReads {
  let slab = Buffer.allocUnsafe(options.slabBytes);
  let at = 0;
  return {
    buffer: () => {
      if (options.slabBytes - at < options.minRead) {
        slab = Buffer.allocUnsafe(options.slabBytes);
        at = 0;
      }
      return slab.subarray(at, at + Math.min(options.maxRead, options.slabBytes - at));
    },
    callback: (bytes, buffer) => {
      // `buffer` is the view `buffer()` last returned: its first `bytes` bytes are this read.
      const data = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
      at = buffer.byteOffset - slab.byteOffset + bytes;
      return onData(data) !== false;
    },
  };
}
