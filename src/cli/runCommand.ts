import { commandEndLines } from './commandEnd.js';
import { Command } from 'commander';
import type { Readable } from 'node:stream';
import { CommandRefused, runHostCommandLine, type ApprovalRequest, type TaskService } from '../core/index.js';
import { decimal } from './flagValues.js';
import { printWaiting } from './approvalCommands.js';
import { EXIT_BROKEN_PIPE, stdoutClosed, whenStdoutCloses, writeOutput } from './cliOutput.js';
import { ensureDaemon } from './daemon/daemonLauncher.js';
import { abortOnSignals, action } from './serviceAction.js';

/** Exit code for Airlock's own failures, distinct from the command's codes (as docker does). */
export const EXIT_AIRLOCK_ERROR = 125;

export interface RunArgs {
  task?: string;
  timeoutSeconds?: number;
  /** One shell command line: several words are joined with spaces, as `sh -c "$*"` would. */
  commandLine: string;
}

/** `run`'s flags and arguments; the same definition parses the CLI's and the daemon's requests. */
export function defineRun(command: Command): Command {
  return command
    .description("run one shell command line in the task for this folder (its place in the task's copy), gated and audited; exits with its exit code")
    .argument('<command-line...>', 'the command line: one argument (as CLAUDE_CODE_SHELL_PREFIX passes it) or several words')
    .option('--task <id>', 'the task (default: the newest live task whose workspace holds this folder)')
    .option('--timeout <seconds>', 'kill the command and everything it started after this long', decimal('--timeout'))
    .passThroughOptions();
}

/** Parses `run`'s arguments without running anything: for requests that reach the daemon. */
export function parseRunArgs(args: string[]): RunArgs {
  let parsed: RunArgs | undefined;
  const command = defineRun(new Command('run'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .action((words: string[], flags: { task?: string; timeout?: number }) => {
      parsed = { task: flags.task, timeoutSeconds: flags.timeout, commandLine: words.join(' ') };
    });
  command.parse(args, { from: 'user' });
  if (!parsed) throw new Error('run: nothing to run');
  return parsed;
}

export interface RunIo {
  cwd: string;
  stdin?: Readable;
  signal: AbortSignal;
  onStdout: (chunk: Buffer) => unknown;
  onStderr: (chunk: Buffer) => unknown;
  onWaiting: (request: ApprovalRequest) => void;
  /** Airlock's own one-line messages (a refusal), as stderr text. */
  say: (line: string) => void;
  beforeRun?: (taskId: string) => Promise<void>;
  /** One command from a short-lived process: an engine exec beats starting the runner. */
  backend?: 'auto' | 'docker-exec';
}

/** One `run` request, wherever it came from: the command's exit code, or 126 for a refusal. */
export async function runRequest(service: TaskService, args: RunArgs, io: RunIo): Promise<number> {
  try {
    const result = await runHostCommandLine(service, {
      commandLine: args.commandLine,
      hostCwd: io.cwd,
      task: args.task,
      stdin: io.stdin,
      signal: io.signal,
      timeoutMs: args.timeoutSeconds ? Math.round(args.timeoutSeconds * 1000) : undefined,
      onStdout: io.onStdout,
      onStderr: io.onStderr,
      gate: { onWaiting: io.onWaiting, stdinIsData: Boolean(io.stdin) },
      beforeRun: io.beforeRun,
      backend: io.backend,
    });
    for (const line of commandEndLines(result, args.timeoutSeconds, result.task)) io.say(line);
    return result.exitCode;
  } catch (error) {
    if (!(error instanceof CommandRefused)) throw error;
    io.say(`airlock: ${error.message}`);
    return error.exitCode;
  }
}

/** The full CLI's `run`: what the launcher falls back to, and what starts the daemon for next time. */
export function registerRunCommand(program: Command): void {
  defineRun(program.command('run')).action(
    action(async (service, words: string[], flags: { task?: string; timeout?: number }) => {
      ensureDaemon(service.store.root);
      const controller = abortOnSignals();
      const unregister = whenStdoutCloses(() => controller.abort());
      try {
        const code = await runRequest(service, { task: flags.task, timeoutSeconds: flags.timeout, commandLine: words.join(' ') }, {
          cwd: process.cwd(),
          // A terminal is a person, not data: only piped input is forwarded.
          stdin: process.stdin.isTTY ? undefined : process.stdin,
          signal: controller.signal,
          onStdout: (chunk) => writeOutput(process.stdout, chunk),
          onStderr: (chunk) => writeOutput(process.stderr, chunk),
          onWaiting: printWaiting,
          say: (line) => process.stderr.write(`${line}\n`),
          backend: 'docker-exec',
        });
        return stdoutClosed() ? EXIT_BROKEN_PIPE : code;
      } finally {
        unregister();
      }
    }, EXIT_AIRLOCK_ERROR),
  );
}
