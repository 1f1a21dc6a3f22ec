import { commandEndLines } from './commandEnd.js';
import type { Command } from 'commander';
import { decimal, keyValue } from './flagValues.js';
import { CommandRefused } from '../core/index.js';
import { abortOnSignals, action } from './serviceAction.js';
import { EXIT_BROKEN_PIPE, stdoutClosed, whenStdoutCloses, writeOutput } from './cliOutput.js';
import { printWaiting } from './approvalCommands.js';
import { EXIT_AIRLOCK_ERROR } from './runCommand.js';
import { promptForApprovals } from './approvalPrompt.js';


/** What commander hands the action for the options below (their parsers give the types). */
export interface ExecFlags {
  timeout?: number;
  cwd?: string;
  env?: Record<string, string>;
  interactive?: boolean;
  tty?: boolean;
  runner?: boolean;
}

/** `exec`'s flags and arguments; the same definition parses the daemon's requests (daemon/execArgs.ts). */
export function defineExec(command: Command): Command {
  return command
    .description('run a command inside a task; exits with its exit code (124 on timeout)')
    .argument('<id>', 'task id (or a unique prefix)')
    .argument('<cmd...>', 'command and arguments, after --')
    .option('--timeout <seconds>', 'kill the command and everything it started after this long', decimal('--timeout'))
    .option('--cwd <dir>', 'working directory inside the task (relative to /workspace)')
    .option('-e, --env <name=value>', 'extra variable for this command (repeatable)', keyValue)
    .option('-i, --interactive', 'forward standard input')
    .option('-t, --tty', 'allocate a terminal')
    .option('--runner', "use the task's long-lived runner (faster for many commands from one process; needs node in the image)");
}

export function registerExecCommand(program: Command): void {
  defineExec(program.command('exec'))
    .action(
      action(async (service, id: string, argv: string[], flags: ExecFlags) => {
        const controller = abortOnSignals();
        // The reader went away (`| head -1`): stop the command in the box, then exit as by SIGPIPE.
        const unregister = whenStdoutCloses(() => controller.abort());
        // With --ask, destinations no rule decides are asked about here, while the command runs.
        const record = service.store.resolve(id);
        const prompting = !flags.interactive && !flags.tty && (record.options.egress as { ask?: boolean } | undefined)?.ask ? promptForApprovals(service.store, record.id, controller.signal) : undefined;
        let result;
        try {
          result = await service.exec(id, {
            argv,
            cwd: flags.cwd,
            env: flags.env,
            stdin: flags.interactive ? process.stdin : undefined,
            tty: Boolean(flags.tty),
            timeoutMs: flags.timeout ? Math.round(flags.timeout * 1000) : undefined,
            signal: controller.signal,
            // One command per CLI process: a single engine exec is cheaper than starting the runner.
            backend: flags.runner ? 'auto' : 'docker-exec',
            gate: {
              // A bare shell fed from a pipe would run whatever the pipe carries.
              stdinIsData: Boolean(flags.interactive) && !process.stdin.isTTY,
              onWaiting: printWaiting,
            },
            // Backpressure: the box prints no faster than this terminal or pipe reads.
            onStdout: (chunk) => writeOutput(process.stdout, chunk),
            onStderr: (chunk) => writeOutput(process.stderr, chunk),
          });
        } catch (error) {
          prompting?.stop();
          unregister();
          if (!(error instanceof CommandRefused)) throw error;
          process.stderr.write(`airlock: ${error.message}\n`);
          return error.exitCode;
        }
        prompting?.stop();
        unregister();
        if (stdoutClosed()) return EXIT_BROKEN_PIPE;
        for (const line of commandEndLines(result, flags.timeout, record.id)) process.stderr.write(`${line}\n`);
        return result.exitCode;
      }, EXIT_AIRLOCK_ERROR),
    );
}
