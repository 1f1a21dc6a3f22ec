import type { Readable } from 'node:stream';

/**
 * Pulls newline-terminated lines and exact byte counts off a stream, with a hard cap on line
 * length: the other end is inside the sandbox, so an endless line must end the read, not grow
 * host memory.
 */
export class StreamReader {
  private buffered: Buffer[] = [];
  private length = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(stream: Readable, private readonly maxLine: number) {
    stream.on('data', (chunk: Buffer) => {
      this.buffered.push(chunk);
      this.length += chunk.length;
      if (this.length > maxLine * 4) stream.pause();
      this.notify();
    });
    stream.on('end', () => ((this.ended = true), this.notify()));
    stream.on('close', () => ((this.ended = true), this.notify()));
    stream.on('error', (error: Error) => ((this.failure = error), this.notify()));
    this.resume = () => stream.resume();
  }

  private readonly resume: () => void;

  private notify() {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async more(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.ended) throw new Error('stream ended early');
    this.resume();
    await new Promise<void>((resolve) => (this.wake = resolve));
    // Read through a method: the check above narrowed the field to undefined, but a stream error
    // during the wait sets it, and that must end the read.
    const failure = this.failureNow();
    if (failure) throw failure;
  }

  private failureNow(): Error | undefined {
    return this.failure;
  }

  private take(count: number): Buffer {
    const parts: Buffer[] = [];
    let left = count;
    while (left > 0) {
      const chunk = this.buffered[0];
      if (chunk.length <= left) {
        parts.push(chunk);
        this.buffered.shift();
        left -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, left));
        this.buffered[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.length -= count;
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  async line(): Promise<string> {
    for (;;) {
      let offset = 0;
      for (const chunk of this.buffered) {
        const at = chunk.indexOf(10);
        if (at >= 0) {
          const line = this.take(offset + at + 1);
          return line.subarray(0, line.length - 1).toString('utf8');
        }
        offset += chunk.length;
      }
      if (this.length > this.maxLine) throw new Error(`a line longer than ${this.maxLine} bytes`);
      await this.more();
    }
  }

  /** Hands exactly `count` bytes to `sink`, in pieces as they arrive. */
  async bytes(count: number, sink: (chunk: Buffer) => void): Promise<void> {
    let left = count;
    while (left > 0) {
      if (this.length === 0) await this.more();
      const piece = this.take(Math.min(left, this.length));
      sink(piece);
      left -= piece.length;
    }
  }
}
