import { printable } from '../ground/printable.js';

/**
 * One stream of a command's output, kept within a budget for an agent's context: its start and
 * its end (where errors and summaries usually are), with how much was left out between. Memory
 * stays bounded however much the box prints; the command is never slowed by it.
 */
export class BoundedOutput {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(private readonly headLimit: number, private readonly tailLimit: number) {}

  readonly take = (chunk: Buffer): void => {
    this.total += chunk.length;
    if (this.headBytes < this.headLimit) {
      const piece = chunk.subarray(0, this.headLimit - this.headBytes);
      this.head.push(piece);
      this.headBytes += piece.length;
      chunk = chunk.subarray(piece.length);
    }
    if (!chunk.length) return;
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
    while (this.tailBytes - this.tail[0].length >= this.tailLimit) this.tailBytes -= this.tail.shift()!.length;
  };

  get bytes(): number {
    return this.total;
  }

  /**
   * The kept text, made printable (text from the box is untrusted: no control sequence or bidi
   * override reaches the reader). A character cut at the edge of what was kept decodes as U+FFFD.
   */
  text(): string {
    const head = Buffer.concat(this.head);
    let tail = Buffer.concat(this.tail);
    if (tail.length > this.tailLimit) tail = tail.subarray(tail.length - this.tailLimit);
    const left = this.total - head.length - tail.length;
    const decode = (bytes: Buffer) => printable(new TextDecoder('utf-8').decode(bytes));
    return left > 0 ? `${decode(head)}\n[… ${left} bytes left out …]\n${decode(tail)}` : decode(Buffer.concat([head, tail]));
  }
}
