/**
 * The frames between the in-task relay and the host broker, carried over one engine exec's
 * stdin/stdout: type (1 byte), connection id (4), payload length (4), payload. The relay is a dumb
 * pipe; every decision is taken on the host, so a relay the sandbox subverted gains nothing that
 * connecting to the proxy port would not give it.
 *
 * Shared by the host (egressGateway.ts, egressBroker.ts) and the relay (src/sandbox/relay.ts), which
 * is bundled from it: no imports, node built-ins (Buffer) only.
 */
export const FRAME = {
  /** relay → host: listening; payload {"port","pid"}. */
  READY: 0,
  /** relay → host: a sandbox process connected. */
  OPEN: 1,
  /** both ways: bytes of one connection. */
  DATA: 2,
  /** both ways: that side finished sending (TCP half-close). */
  END: 3,
  /** both ways: the connection is gone. */
  CLOSE: 4,
  /** both ways: stop / restart sending this connection's bytes (the receiver's socket is full). */
  PAUSE: 5,
  RESUME: 6,
  /** host → relay: still here (a relay that hears nothing for a while exits). */
  PING: 7,
  /** host → relay: exit now. */
  SHUTDOWN: 8,
} as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

export const FRAME_HEADER_BYTES = 9;
/** The relay sends socket reads as they come (≤ 64 KiB); anything far larger is a broken or hostile relay. */
export const MAX_FRAME_PAYLOAD = 1024 * 1024;
/** Seconds without any frame from the host after which the relay exits (the host pings every 5 s). */
export const RELAY_SILENCE_LIMIT_S = 30;

export function frameHeader(type: FrameType, id: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header[0] = type;
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(length, 5);
  return header;
}

export class FrameError extends Error {}

/**
 * Reassembles frames from arbitrary chunks; throws FrameError on a frame no honest relay sends.
 * Pieces of an incomplete frame wait in a list and are joined once, when the frame is complete, so
 * a frame that arrives in many reads costs one copy, not one per read.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the pending pieces must reach before anything can be decoded from them. */
  private need = FRAME_HEADER_BYTES;

  constructor(private readonly onFrame: (type: number, id: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    if (this.pendingBytes > 0) {
      if (this.need === FRAME_HEADER_BYTES && this.pendingBytes + chunk.length >= FRAME_HEADER_BYTES) {
        const head = Buffer.concat([...this.pending, chunk.subarray(0, FRAME_HEADER_BYTES - this.pendingBytes)], FRAME_HEADER_BYTES);
        this.need = FRAME_HEADER_BYTES + payloadLength(head, 0);
      }
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < this.need) return;
      chunk = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let offset = 0;
    this.need = FRAME_HEADER_BYTES;
    while (chunk.length - offset >= FRAME_HEADER_BYTES) {
      const length = payloadLength(chunk, offset);
      if (chunk.length - offset < FRAME_HEADER_BYTES + length) {
        this.need = FRAME_HEADER_BYTES + length;
        break;
      }
      const start = offset + FRAME_HEADER_BYTES;
      this.onFrame(chunk[offset], chunk.readUInt32BE(offset + 1), chunk.subarray(start, start + length));
      offset = start + length;
    }
    if (offset < chunk.length) {
      const rest = chunk.subarray(offset);
      this.pending.push(rest);
      this.pendingBytes = rest.length;
    }
  }
}

/** The payload length of the header at `offset`, once its type and length pass. */
function payloadLength(chunk: Buffer, offset: number): number {
  const type = chunk[offset];
  const length = chunk.readUInt32BE(offset + 5);
  if (type > FRAME.SHUTDOWN) throw new FrameError(`unknown frame type ${type}`);
  if (length > MAX_FRAME_PAYLOAD) throw new FrameError(`frame of ${length} bytes is over the ${MAX_FRAME_PAYLOAD}-byte limit`);
  return length;
}
