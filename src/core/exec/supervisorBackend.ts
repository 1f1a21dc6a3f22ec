import { PassThrough, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import { AirlockError } from '../errors.js';
import { exitCodeFor } from './exitCodes.js';
import { EXIT_CANCELLED, EXIT_TIMEOUT, type ExecBackend, type ExecRequest, type ExecResult } from './execTypes.js';
import { SUPERVISOR_SOURCE } from './supervisorSource.js';

const messageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ready'), pid: z.number() }),
  z.object({ t: z.literal('out'), id: z.string(), fd: z.union([z.literal(1), z.literal(2)]), d: z.string() }),
  z.object({ t: z.literal('exit'), id: z.string(), code: z.number().int().min(0).max(255).nullable(), signal: z.string().max(16).nullable() }),
  z.object({ t: z.literal('fail'), id: z.string(), code: z.number().int().min(0).max(255), message: z.string().max(4096) }),
]);
type SupervisorMessage = z.infer<typeof messageSchema>;

interface Pending {
  request: ExecRequest;
  result: Omit<ExecResult, 'exitCode'>;
  finish: (exitCode: number, signal?: string) => void;
}

const KILL_GRACE_MS = 5000;
const MAX_LINE = 1024 * 1024;

/** Raised when the image has no `node`; the caller falls back to plain engine execs. */
export class SupervisorUnavailable extends Error {}

/**
 * One long-lived runner process inside the task, reached through a single engine exec whose
 * stdin/stdout carry the supervisor protocol. Opened once per host process and task.
 */
export class SupervisorBackend implements ExecBackend {
  readonly name = 'supervisor' as const;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  private readonly heartbeat: NodeJS.Timeout;

  private constructor(private readonly stream: Duplex, private readonly onClosed: () => void) {
    this.heartbeat = setInterval(() => this.send({ t: 'ping' }), 10_000).unref();
  }

  static async open(container: Docker.Container, modem: { demuxStream(stream: NodeJS.ReadableStream, out: NodeJS.WritableStream, err: NodeJS.WritableStream): void }, user: string, onClosed: () => void): Promise<SupervisorBackend> {
    const exec = await container.exec({
      Cmd: ['node', '-e', SUPERVISOR_SOURCE],
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: user,
      WorkingDir: '/',
    });
    const stream = (await exec.start({ hijack: true, stdin: true })) as unknown as Duplex;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    modem.demuxStream(stream, stdout, stderr);
    // The runner's stderr is writable by anything in the task: keep only a short tail for messages.
    const diagnostics: string[] = [];
    stderr.on('data', (chunk: Buffer) => {
      diagnostics.push(chunk.toString('utf8'));
      const tail = diagnostics.join('').slice(-4096);
      diagnostics.length = 0;
      diagnostics.push(tail);
    });

    let backend: SupervisorBackend | undefined;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new SupervisorUnavailable(`the in-container runner did not start within 20 s: ${diagnostics.join('').trim()}`));
      }, 20_000);
      // Anything in the task can write to the runner's stdout: lines are capped (the runner's own
      // stay under 100 KB) and only new bytes are searched for the line end.
      const pieces: Buffer[] = [];
      let pending = 0;
      stdout.on('data', (chunk: Buffer) => {
        let start = 0;
        let newline: number;
        const lines: string[] = [];
        while ((newline = chunk.indexOf(10, start)) !== -1) {
          pieces.push(chunk.subarray(start, newline));
          lines.push(Buffer.concat(pieces).toString('utf8'));
          pieces.length = 0;
          pending = 0;
          start = newline + 1;
        }
        if (start < chunk.length) {
          pieces.push(chunk.subarray(start));
          pending += chunk.length - start;
        }
        if (pending > MAX_LINE) {
          stream.destroy(new Error('the runner sent an oversized message'));
          return;
        }
        for (const line of lines) {
          const parsed = messageSchema.safeParse(safeJson(line));
          if (!parsed.success) continue;
          if (parsed.data.t === 'ready' && !backend) {
            clearTimeout(timer);
            backend = new SupervisorBackend(stream, onClosed);
            resolve();
          } else backend?.handle(parsed.data);
        }
      });
      stream.on('end', () => {
        clearTimeout(timer);
        if (!backend) reject(new SupervisorUnavailable(`the image has no usable node for the fast runner: ${diagnostics.join('').trim() || 'runner exited'}`));
        backend?.lost(diagnostics.join('').trim());
      });
      stream.on('error', (error) => {
        clearTimeout(timer);
        if (!backend) reject(error);
        backend?.lost(error.message);
      });
    });
    return backend!;
  }

  private send(message: Record<string, unknown>): void {
    if (!this.closed) this.stream.write(JSON.stringify(message) + '\n');
  }

  private handle(message: SupervisorMessage): void {
    if (message.t === 'ready') return;
    const pending = this.pending.get(message.id);
    if (!pending) return;
    if (message.t === 'out') {
      const data = Buffer.from(message.d, 'base64');
      if (message.fd === 1) {
        pending.result.bytesOut += data.length;
        pending.request.onStdout?.(data);
      } else {
        pending.result.bytesErr += data.length;
        pending.request.onStderr?.(data);
      }
    } else if (message.t === 'exit') {
      pending.finish(exitCodeFor(message.code, message.signal), message.signal ?? undefined);
    } else {
      pending.request.onStderr?.(Buffer.from(`${message.message}\n`));
      pending.finish(message.code);
    }
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.stream.destroy();
    this.onClosed();
    for (const pending of this.pending.values()) {
      pending.request.onStderr?.(Buffer.from(`airlock: lost the task's runner (${reason || 'container stopped'})\n`));
      pending.finish(137, 'SIGKILL');
    }
  }

  run(id: string, request: ExecRequest): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new AirlockError('the task is no longer running', 'Start a new task with `airlock start`.'));
    return new Promise<ExecResult>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const result: Omit<ExecResult, 'exitCode'> = { timedOut: false, cancelled: false, bytesOut: 0, bytesErr: 0, backend: this.name };
      const onData = (chunk: Buffer) => this.send({ t: 'in', id, d: Buffer.from(chunk).toString('base64') });
      const onEnd = () => this.send({ t: 'eof', id });
      let grace: NodeJS.Timeout | undefined;
      // A runner that does not confirm a kill is presumed wedged: answer the caller anyway and drop
      // the session, so a timeout always ends the wait.
      const kill = () => {
        this.send({ t: 'kill', id });
        grace ??= setTimeout(() => {
          finish(137, 'SIGKILL');
          this.lost('the runner did not confirm a kill');
        }, KILL_GRACE_MS);
      };
      const onAbort = () => {
        result.cancelled = true;
        kill();
      };
      const finish = (exitCode: number, signal?: string) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        clearTimeout(grace);
        request.signal?.removeEventListener('abort', onAbort);
        if (request.stdin) {
          request.stdin.removeListener('data', onData).removeListener('end', onEnd);
          request.stdin.pause();
        }
        const code = result.timedOut ? EXIT_TIMEOUT : result.cancelled ? EXIT_CANCELLED : exitCode;
        resolve({ ...result, exitCode: code, signal });
      };
      this.pending.set(id, { request, result, finish });
      this.send({ t: 'run', id, argv: request.argv, cwd: request.cwd, env: request.env, stdin: Boolean(request.stdin) });
      if (request.stdin) request.stdin.on('data', onData).on('end', onEnd);
      if (request.timeoutMs) {
        timer = setTimeout(() => {
          result.timedOut = true;
          kill();
        }, request.timeoutMs);
      }
      if (request.signal?.aborted) onAbort();
      else request.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  dispose(): void {
    if (this.closed) return;
    this.send({ t: 'bye' });
    this.closed = true;
    clearInterval(this.heartbeat);
    // Close our side fully once "bye" is flushed: under gVisor the engine may never end the stream.
    this.stream.end(() => this.stream.destroy());
    this.onClosed();
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
