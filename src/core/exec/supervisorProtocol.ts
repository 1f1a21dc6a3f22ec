/**
 * The supervisor protocol: newline-delimited JSON over one engine exec's stdin/stdout, between the
 * host (supervisorBackend.ts) and the in-task runner (src/sandbox/supervisor.ts). No imports: the
 * runner is bundled from it and runs on whatever node the image ships.
 *
 * Flow control is per command, by credit, so one slow consumer never stalls the others: the runner
 * stops reading a command's stdout/stderr once OUTPUT_WINDOW bytes are unacknowledged (`ack` says
 * how many the host's consumer has taken), and the host sends no more stdin than INPUT_WINDOW
 * beyond what `inack` confirmed reached the command's pipe.
 */

/** Output bytes a command may have sent to the host that the host's consumer has not yet taken. */
export const OUTPUT_WINDOW = 256 * 1024;
/** Stdin bytes the host may have sent for a command that are not yet in the command's pipe. */
export const INPUT_WINDOW = 256 * 1024;
/** The runner gives up on a host it has not heard from for this long (the host pings every 10 s). */
export const SUPERVISOR_SILENCE_LIMIT_MS = 30_000;
/** Every command's environment carries `AIRLOCK_CMD=<id>`: a kill ends whatever carries it. */
export const COMMAND_MARKER = 'AIRLOCK_CMD';

/** host → runner. */
export type HostMessage =
  /** `env` is the command's whole environment: the runner passes on nothing of its own. */
  | { t: 'run'; id: string; argv: string[]; cwd?: string; env?: Record<string, string>; stdin?: boolean }
  /** Stdin bytes, base64. */
  | { t: 'in'; id: string; d: string }
  | { t: 'eof'; id: string }
  | { t: 'kill'; id: string }
  /** The host's consumer took `n` more output bytes of this command. */
  | { t: 'ack'; id: string; n: number }
  | { t: 'ping' }
  | { t: 'bye' };

/** runner → host. */
export type RunnerMessage =
  | { t: 'ready'; pid: number }
  /** Output bytes, base64; fd 1 is stdout, 2 stderr. */
  | { t: 'out'; id: string; fd: 1 | 2; d: string }
  /** `n` more stdin bytes of this command are in its pipe. */
  | { t: 'inack'; id: string; n: number }
  | { t: 'exit'; id: string; code: number | null; signal: string | null }
  /** The command could not start: 127 not found, 126 anything else. */
  | { t: 'fail'; id: string; code: number; message: string };
