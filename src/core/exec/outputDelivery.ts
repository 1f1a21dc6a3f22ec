import type { ChunkSink } from './engineStreamDemux.js';
import type { ExecRequest, ExecResult } from './execTypes.js';

/**
 * One command's output on its way to the caller's onStdout/onStderr. The backends wait on what
 * these sinks return, which is how a slow consumer slows the box. Once the command has been killed
 * the rest is passed on without waiting: its processes are dead, so what is left in transit is
 * bounded by the pipes it sat in, and a consumer that stopped reading cannot keep the exec open.
 */
export class OutputDelivery {
  private released = false;
  private failed = false;
  private onRelease!: () => void;
  /** Also ends a wait already under way: the consumer may never settle the promise it returned. */
  private readonly releasedSignal = new Promise<void>((resolve) => (this.onRelease = resolve));
  readonly stdout: ChunkSink = (chunk) => this.deliver(chunk, 1);
  readonly stderr: ChunkSink = (chunk) => this.deliver(chunk, 2);

  constructor(
    private readonly request: Pick<ExecRequest, 'onStdout' | 'onStderr'>,
    private readonly result: Pick<ExecResult, 'bytesOut' | 'bytesErr'>,
    /** A consumer that throws or rejects cannot take more: the command is stopped, as by SIGPIPE. */
    private readonly onConsumerFailed: () => void,
  ) {}

  release(): void {
    this.released = true;
    this.onRelease();
  }

  private fail(): void {
    if (this.failed) return;
    this.failed = true;
    this.onConsumerFailed();
  }

  private deliver(chunk: Buffer, fd: 1 | 2): void | Promise<void> {
    if (fd === 1) this.result.bytesOut += chunk.length;
    else this.result.bytesErr += chunk.length;
    if (this.failed) return;
    let pending: unknown;
    try {
      pending = fd === 1 ? this.request.onStdout?.(chunk) : this.request.onStderr?.(chunk);
    } catch {
      this.fail();
      return;
    }
    if (!isThenable(pending)) return;
    const settled = Promise.resolve(pending).then(() => undefined, () => this.fail());
    return this.released ? undefined : Promise.race([settled, this.releasedSignal]);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
