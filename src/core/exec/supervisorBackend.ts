import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { z } from 'zod';
import { AirlockError } from '../ground/errors.js';
import { engineStreamDemux } from './engineStreamDemux.js';
import { exitCodeFor } from './exitCodes.js';
import { inBoxProgram } from './inBoxProgram.js';
import { killCommandTree } from './markerKill.js';
import { OutputDelivery } from './outputDelivery.js';
import { EXIT_CANCELLED, EXIT_TIMEOUT, type ExecBackend, type ExecRequest, type ExecResult } from './execTypes.js';
import { sandboxProgram } from './sandboxPrograms.js';
import { INPUT_WINDOW, OUTPUT_WINDOW, type HostMessage, type RunnerMessage } from './supervisorProtocol.js';

const messageSchema: z.ZodType<RunnerMessage> = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ready'), pid: z.number() }),
  z.object({ t: z.literal('out'), id: z.string(), fd: z.union([z.literal(1), z.literal(2)]), d: z.string() }),
  z.object({ t: z.literal('inack'), id: z.string(), n: z.number().int().min(0) }),
  z.object({ t: z.literal('exit'), id: z.string(), code: z.number().int().min(0).max(255).nullable(), signal: z.string().max(16).nullable() }),
  z.object({ t: z.literal('fail'), id: z.string(), code: z.number().int().min(0).max(255), message: z.string().max(4096) }),
]);

interface Pending {
  request: ExecRequest;
  result: Omit<ExecResult, 'exitCode'>;
  finish: (exitCode: number, signal?: string) => void;
  output: OutputDelivery;
  /** This command's output and its end, handed to the consumer strictly in order. */
  queue: Promise<void>;
  /** Bytes received and not yet taken by the consumer. */
  queued: number;
  /** Bytes taken by the consumer and not yet acknowledged to the runner. */
  toAck: number;
  /** The shared stream is writable again, or stdin got credit back: maybe read more stdin. */
  resumeStdin: () => void;
  onInputAck: (bytes: number) => void;
  /** The host's own kill of the command's tree, once asked for: its end is reported only after that has run. */
  hostKill?: Promise<void>;
  /** When the host sent the command (Date.now()), where the kill's window of its processes begins. */
  startedAt: number;
}

const KILL_GRACE_MS = 5000;
/**
 * An honest runner stops at OUTPUT_WINDOW unacknowledged bytes per command. Past this, the runner
 * is not keeping to the protocol, and the host stops reading the shared stream altogether.
 */
const QUEUE_LIMIT = OUTPUT_WINDOW * 2;
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

  private constructor(private readonly stream: Duplex, private readonly taskEnv: Record<string, string>, private readonly onClosed: () => void, private readonly killTree: (id: string, startedAt: number) => Promise<void>) {
    this.heartbeat = setInterval(() => this.send({ t: 'ping' }), 10_000).unref();
    stream.on('drain', () => {
      for (const pending of this.pending.values()) pending.resumeStdin();
    });
  }

  static async open(container: Docker.Container, user: string, onClosed: () => void): Promise<SupervisorBackend> {
    // The runner starts with nothing of the task's environment; its children get it by message.
    const program = await inBoxProgram(container, sandboxProgram('supervisor')).catch((error: unknown) => {
      if (error instanceof AirlockError) throw new SupervisorUnavailable(error.message);
      throw error;
    });
    const exec = await container.exec({
      Cmd: program.Cmd,
      Env: program.Env,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      User: user,
      WorkingDir: '/',
    });
    const stream = await exec.start({ hijack: true, stdin: true });
    // The runner's stderr is writable by anything in the task: keep only a short tail for messages.
    let diagnosticsTail = '';
    const diagnostics = () => diagnosticsTail;
    const onStderr = (chunk: Buffer) => {
      diagnosticsTail = (diagnosticsTail + chunk.toString('utf8')).slice(-4096);
    };
    let backend: SupervisorBackend | undefined;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.destroy();
        reject(new SupervisorUnavailable(`the in-container runner did not start within 20 s: ${diagnostics().trim()}`));
      }, 20_000);
      // Anything in the task can write to the runner's stdout: lines are capped (the runner's own
      // stay under 100 KB) and only new bytes are searched for the line end.
      const pieces: Buffer[] = [];
      let pending = 0;
      const onStdout = async (chunk: Buffer) => {
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
            backend = new SupervisorBackend(stream, program.taskEnv, onClosed, (id, startedAt) => killCommandTree(container, user, id, startedAt).catch(() => undefined));
            resolve();
          } else {
            const behind = backend?.handle(parsed.data);
            if (behind) await behind;
          }
        }
      };
      const demux = engineStreamDemux(onStdout, onStderr);
      stream.pipe(demux);
      // Ended only once every message has been handled, so no command is reported lost while its exit is still queued.
      const ended = () => {
        clearTimeout(timer);
        if (!backend) reject(new SupervisorUnavailable(`the image has no usable node for the fast runner: ${diagnostics().trim() || 'runner exited'}`));
        backend?.lost(diagnostics().trim());
      };
      demux.on('finish', ended);
      stream.on('close', () => {
        if (!demux.writableEnded) demux.end();
      });
      stream.on('error', (error) => {
        clearTimeout(timer);
        if (!backend) reject(error);
        backend?.lost(error.message);
      });
    });
    return backend!;
  }

  /** False when the shared stream's buffer is full: callers that can wait (stdin) should. */
  private send(message: HostMessage): boolean {
    if (this.closed) return true;
    return this.stream.write(JSON.stringify(message) + '\n');
  }

  /** Returns a promise only when the shared stream must not be read on until it settles. */
  private handle(message: RunnerMessage): Promise<void> | undefined {
    if (message.t === 'ready') return undefined;
    const pending = this.pending.get(message.id);
    if (!pending) return undefined;
    if (message.t === 'out') {
      const data = Buffer.from(message.d, 'base64');
      pending.queued += data.length;
      pending.queue = pending.queue.then(async () => {
        await (message.fd === 1 ? pending.output.stdout(data) : pending.output.stderr(data));
        pending.queued -= data.length;
        pending.toAck += data.length;
        if (pending.toAck >= OUTPUT_WINDOW / 4 || pending.queued === 0) {
          this.send({ t: 'ack', id: message.id, n: pending.toAck });
          pending.toAck = 0;
        }
      });
      return pending.queued > QUEUE_LIMIT ? pending.queue : undefined;
    }
    if (message.t === 'inack') {
      pending.onInputAck(message.n);
      return undefined;
    }
    // The end is reported after the output before it has been taken.
    if (message.t === 'exit') {
      // After a kill, the runner's word that the command ended is not enough: it runs as the sandbox
      // user, so anything in the box could stop it or speak for it. The host's own kill runs first.
      void pending.queue.then(async () => {
        await pending.hostKill;
        pending.finish(exitCodeFor(message.code, message.signal), message.signal ?? undefined);
      });
    } else {
      void pending.queue.then(async () => {
        await pending.output.stderr(Buffer.from(`${message.message}\n`));
        pending.finish(message.code);
      });
    }
    return undefined;
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.stream.destroy();
    this.onClosed();
    for (const pending of this.pending.values()) {
      pending.output.release();
      void pending.output.stderr(Buffer.from(`airlock: lost the task's runner (${reason || 'container stopped'})\n`));
      pending.finish(137, 'SIGKILL');
    }
  }

  run(id: string, request: ExecRequest): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new AirlockError('the task is no longer running', { code: 'task.gone', hint: 'Start a new task.', actions: [{ kind: 'startTask' }] }));
    return new Promise<ExecResult>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const result: Omit<ExecResult, 'exitCode'> = { timedOut: false, cancelled: false, bytesOut: 0, bytesErr: 0, backend: this.name };
      const stdin = request.stdin;
      // Stdin is read only while the runner has confirmed all but INPUT_WINDOW bytes and the shared stream takes more.
      let inFlight = 0;
      let stdinEnded = false;
      const resumeStdin = () => {
        if (stdin && !stdinEnded && stdin.isPaused() && inFlight < INPUT_WINDOW && !this.stream.writableNeedDrain) stdin.resume();
      };
      const onData = (chunk: Buffer) => {
        inFlight += chunk.length;
        const room = this.send({ t: 'in', id, d: Buffer.from(chunk).toString('base64') });
        if (!room || inFlight >= INPUT_WINDOW) stdin?.pause();
      };
      const onEnd = () => {
        stdinEnded = true;
        this.send({ t: 'eof', id });
      };
      let grace: NodeJS.Timeout | undefined;
      // A runner that does not confirm a kill is presumed wedged: answer the caller anyway and drop
      // the session, so a timeout always ends the wait.
      const kill = () => {
        output.release();
        this.send({ t: 'kill', id });
        const pending = this.pending.get(id);
        if (pending) pending.hostKill ??= this.killTree(id, pending.startedAt);
        grace ??= setTimeout(() => {
          // Reported only once the host's kill has run: a wedged runner leaves no command behind.
          void Promise.resolve(pending?.hostKill).then(() => {
            finish(137, 'SIGKILL');
            this.lost('the runner did not confirm a kill');
          });
        }, KILL_GRACE_MS);
      };
      const onAbort = () => {
        result.cancelled = true;
        kill();
      };
      const output = new OutputDelivery(request, result, onAbort);
      const finish = (exitCode: number, signal?: string) => {
        if (!this.pending.delete(id)) return;
        clearTimeout(timer);
        clearTimeout(grace);
        request.signal?.removeEventListener('abort', onAbort);
        if (stdin) {
          stdin.removeListener('data', onData).removeListener('end', onEnd);
          stdin.pause();
        }
        const code = result.timedOut ? EXIT_TIMEOUT : result.cancelled ? EXIT_CANCELLED : exitCode;
        resolve({ ...result, exitCode: code, signal });
      };
      this.pending.set(id, {
        startedAt: Date.now(),
        request,
        result,
        finish,
        output,
        queue: Promise.resolve(),
        queued: 0,
        toAck: 0,
        resumeStdin,
        onInputAck: (bytes) => {
          inFlight = Math.max(0, inFlight - bytes);
          resumeStdin();
        },
      });
      // The command's whole environment: the runner passes on nothing of its own.
      this.send({ t: 'run', id, argv: request.argv, cwd: request.cwd, env: { ...this.taskEnv, ...request.env }, stdin: Boolean(stdin) });
      if (stdin) stdin.on('data', onData).on('end', onEnd);
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
