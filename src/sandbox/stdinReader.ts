/**
 * Lines and exact byte counts from stdin, as they arrive. When stdin ends while more is awaited
 * the host went away and there is nothing left to answer: the process exits 0.
 */
export interface StdinReader {
  line(): Promise<string>;
  bytes(count: number): Promise<Buffer>;
}

export function readStdin(): StdinReader {
  let input = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  let ended = false;
  const wakeUp = () => {
    if (wake) {
      const resolve = wake;
      wake = null;
      resolve();
    }
  };
  process.stdin.on('data', (chunk: Buffer) => {
    input = Buffer.concat([input, chunk]);
    wakeUp();
  });
  process.stdin.on('end', () => {
    ended = true;
    wakeUp();
  });
  const more = (): Promise<void> => (ended ? process.exit(0) : new Promise((resolve) => (wake = resolve)));
  return {
    async line() {
      for (;;) {
        const at = input.indexOf(10);
        if (at >= 0) {
          const line = input.subarray(0, at).toString('utf8');
          input = input.subarray(at + 1);
          return line;
        }
        await more();
      }
    },
    async bytes(count) {
      while (input.length < count) await more();
      const out = input.subarray(0, count);
      input = input.subarray(count);
      return out;
    },
  };
}
