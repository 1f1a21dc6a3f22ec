import type { Readable } from 'node:stream';
import type { Event } from '../ground/events.js';

/**
 * Takes a piece of a command's output. A returned promise is backpressure: the backend takes no
 * more of this command's output until it settles (the box's process then blocks on a full pipe),
 * so memory stays bounded however much the box prints. Any other return value is ignored (handlers
 * like `(chunk) => chunks.push(chunk)` keep working). A throw or rejection stops the command, as
 * SIGPIPE would.
 */
export type OutputHandler = (chunk: Buffer) => unknown;

export interface ExecRequest {
  argv: string[];
  /** Absolute path inside the container. */
  cwd: string;
  env: Record<string, string>;
  /** Data for the command's stdin; without it stdin is empty. */
  stdin?: Readable;
  tty?: boolean;
  /** With `tty`: the terminal's size now (read again once the command has started), and each change while it runs. */
  terminal?: { size: () => TerminalSize; onResize?: Event<TerminalSize> };
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Output as it comes; see OutputHandler for backpressure. */
  onStdout?: OutputHandler;
  onStderr?: OutputHandler;
}

export interface TerminalSize {
  rows: number;
  cols: number;
}

export interface ExecResult {
  /** The command's exit code; 124 on timeout, 130 on cancel, 128+N when killed by signal N. */
  exitCode: number;
  signal?: string;
  timedOut: boolean;
  cancelled: boolean;
  bytesOut: number;
  bytesErr: number;
  backend: ExecBackendName;
  /** Set when the task itself ended while the command ran (its TTL, or the container exited): why. */
  taskEnded?: string;
}

export type ExecBackendName = 'supervisor' | 'docker-exec';

/** Runs one command in a task container, killing its whole process tree on timeout or abort. */
export interface ExecBackend {
  readonly name: ExecBackendName;
  run(id: string, request: ExecRequest): Promise<ExecResult>;
  dispose(): void;
}

export const EXIT_TIMEOUT = 124;
export const EXIT_CANCELLED = 130;
