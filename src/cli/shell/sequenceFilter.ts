/**
 * Takes shell-integration marks (OSC 633 and the older OSC 133) out of what the box prints, so
 * that a process inside cannot tell VS Code, or an agent reading the terminal through it, that a
 * command ended, or with which code: those marks are the host's alone (shellMarks.ts). Every
 * other byte passes unchanged, split across chunks or not.
 */
export class SequenceFilter {
  /** Bytes of an OSC introducer and number still being read. */
  private pending: number[] = [];
  private dropping = false;
  /** Inside a dropped sequence, the byte before this one (ST is two bytes: ESC \ or C2 9C). */
  private previous = 0;

  push(chunk: Buffer): Buffer {
    const out: number[] = [];
    for (const byte of chunk) this.step(byte, out);
    return Buffer.from(out);
  }

  /** What is held back at the end of the output (an unfinished introducer) is passed on. */
  flush(): Buffer {
    const rest = this.dropping ? [] : this.pending;
    this.pending = [];
    this.dropping = false;
    return Buffer.from(rest);
  }

  private step(byte: number, out: number[]): void {
    if (this.dropping) {
      // A sequence ends with BEL, ST (ESC \) or the C1 ST (U+009C, C2 9C in UTF-8).
      if (byte === 0x07 || (this.previous === 0x1b && byte === 0x5c) || (this.previous === 0xc2 && byte === 0x9c)) this.dropping = false;
      this.previous = byte;
      return;
    }
    const pending = this.pending;
    if (pending.length === 0) {
      if (byte === 0x1b || byte === 0xc2) pending.push(byte);
      else out.push(byte);
      return;
    }
    pending.push(byte);
    const introducer = pending[0] === 0x1b ? [0x1b, 0x5d] : [0xc2, 0x9d];
    if (pending.length <= 2) {
      if (byte !== introducer[pending.length - 1]) this.release(out);
      return;
    }
    const number = String.fromCharCode(...pending.slice(2));
    if (/^\d{1,4}$/.test(number)) return;
    const code = number.slice(0, -1);
    if (byte === 0x3b && (code === '633' || code === '133')) {
      this.dropping = true;
      this.previous = 0;
      this.pending = [];
      return;
    }
    this.release(out);
  }

  /** Not a mark: the held bytes go out as they came (the last one may start another). */
  private release(out: number[]): void {
    const held = this.pending;
    this.pending = [];
    const last = held.pop()!;
    out.push(...held);
    if (last === 0x1b || last === 0xc2) this.pending.push(last);
    else out.push(last);
  }
}
