import type Docker from 'dockerode';
import { execInspectSchema } from '../engine/engineSchemas.js';
import { engineStreamDemux, rawStreamSink } from './engineStreamDemux.js';
import { killCommandTree } from './markerKill.js';
import { OutputDelivery } from './outputDelivery.js';
import { EXIT_CANCELLED, EXIT_TIMEOUT, type ExecBackend, type ExecRequest, type ExecResult, type TerminalSize } from './execTypes.js';

/**
 * One engine exec per command: works with any image (no node needed) and is the only way to get
 * a TTY. Slower than the supervisor by an engine round trip or three.
 */
export class DockerExecBackend implements ExecBackend {
  readonly name = 'docker-exec' as const;

  constructor(private readonly container: Docker.Container, private readonly user: string) {}

  private killTree(id: string, startedAt: number): Promise<void> {
    return killCommandTree(this.container, this.user, id, startedAt);
  }

  async run(id: string, request: ExecRequest): Promise<ExecResult> {
    const startedAt = Date.now();
    const result: Omit<ExecResult, 'exitCode'> = { timedOut: false, cancelled: false, bytesOut: 0, bytesErr: 0, backend: this.name };
    const env = Object.entries({ ...request.env, AIRLOCK_CMD: id }).map(([name, value]) => `${name}=${value}`);
    if (request.tty) env.push('TERM=xterm-256color');
    const exec = await this.container.exec({
      Cmd: request.argv,
      Env: env,
      WorkingDir: request.cwd,
      User: this.user,
      Tty: Boolean(request.tty),
      AttachStdin: Boolean(request.stdin),
      AttachStdout: true,
      AttachStderr: true,
    });
    const stream = await exec.start({ hijack: true, stdin: Boolean(request.stdin), Tty: Boolean(request.tty) });
    // The engine sizes an exec's terminal only once it has started (ConsoleSize at create needs API 1.42).
    // One resize at a time, the newest size last: two in flight can reach the engine in either order,
    // and a window resized right after start would keep the size it started with.
    let wanted: TerminalSize | undefined;
    let sending = false;
    const resize = (size: TerminalSize) => {
      wanted = size;
      if (sending) return;
      sending = true;
      void (async () => {
        for (let next: TerminalSize | undefined = wanted; next; next = wanted as TerminalSize | undefined) {
          wanted = undefined;
          await exec.resize({ h: next.rows, w: next.cols }).catch(() => undefined);
        }
        sending = false;
      })();
    };
    const terminal = request.tty && request.terminal;
    if (terminal) resize(terminal.size());
    const resizing = terminal ? terminal.onResize?.(resize) : undefined;
    let killing: Promise<void> | undefined;
    const kill = () => {
      output.release();
      return (killing ??= this.killTree(id, startedAt).catch(() => undefined));
    };
    const output = new OutputDelivery(request, result, () => {
      result.cancelled = true;
      void kill();
    });
    // Piped, so the socket is paused while the consumer is behind (and the engine and the box wait).
    const sink = request.tty ? rawStreamSink(output.stdout) : engineStreamDemux(output.stdout, output.stderr);
    stream.pipe(sink);
    // pipe() respects the engine socket's backpressure: stdin is read only as fast as the box takes it.
    if (request.stdin) request.stdin.pipe(stream);
    const delivered = new Promise<void>((resolve) => {
      sink.on('finish', resolve).on('error', () => resolve());
      // A stream that closes without 'end' is not ended by pipe(): end the sink so what it holds is delivered.
      const endSink = () => {
        if (!sink.writableEnded) sink.end();
      };
      stream.on('close', endSink).on('error', endSink);
    });

    const onAbort = () => {
      result.cancelled = true;
      void kill();
    };
    const timer = request.timeoutMs
      ? setTimeout(() => {
          result.timedOut = true;
          void kill();
        }, request.timeoutMs)
      : undefined;
    if (request.signal?.aborted) onAbort();
    else request.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await delivered;
      await killing;
      // The stream can end a moment before the engine records the exit code.
      let inspect = execInspectSchema.parse(await exec.inspect());
      for (let attempt = 0; inspect.Running && attempt < 50; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        inspect = execInspectSchema.parse(await exec.inspect());
      }
      const code = result.timedOut ? EXIT_TIMEOUT : result.cancelled ? EXIT_CANCELLED : inspect.ExitCode ?? 137;
      return { ...result, exitCode: code };
    } finally {
      clearTimeout(timer);
      resizing?.dispose();
      request.signal?.removeEventListener('abort', onAbort);
      request.stdin?.unpipe(stream);
    }
  }

  dispose(): void {}
}
