import type { Readable } from 'node:stream';

export interface ExecRequest {
  argv: string[];
  /** Absolute path inside the container. */
  cwd: string;
  env: Record<string, string>;
  /** Data for the command's stdin; without it stdin is empty. */
  stdin?: Readable;
  tty?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
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
