import { connectEngine, describeError, detachedGatewayLauncher, printableLines, stateDir, TaskService, TaskStore } from '../core/index.js';
import { EXIT_BROKEN_PIPE, stdoutClosed } from './cliOutput.js';
import { cliWording } from './errorHints.js';

/**
 * Ctrl-C, kill and a closed terminal all end long work the same way: through an AbortSignal, so a
 * pending approval is withdrawn (recorded as refused) and nothing is left half done.
 */
export function abortOnSignals(): AbortController {
  const controller = new AbortController();
  const abort = () => controller.abort();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, abort);
  return controller;
}

/** The task service the CLI's engine commands work through: the engine, this user's records, the detached gateway. */
export async function openService(): Promise<TaskService> {
  const engine = await connectEngine();
  const store = new TaskStore(stateDir());
  // The gateway is this same CLI, started detached: `node cli.js gateway ID`.
  const gateway = detachedGatewayLauncher(store, [process.execPath, process.argv[1]]);
  return new TaskService(engine, store, (message) => process.stderr.write(`airlock: warning: ${printableLines(message)}\n`), { gateway });
}

/** Runs one subcommand with the service, turning errors into one readable line and an exit code. */
export function action<A extends unknown[]>(work: (service: TaskService, ...args: A) => Promise<number | void>, errorCode = 1) {
  return async (...args: A) => {
    let service: TaskService | undefined;
    // If the work's promise is left unsettled with nothing pending, node would exit 0 in silence;
    // that must read as a failure, never as success.
    let settled = false;
    const onExit = () => {
      // A reader that went away ends work early on purpose (EXIT_BROKEN_PIPE), not by mistake.
      if (settled || stdoutClosed()) return;
      process.stderr.write('airlock: internal error: the command stopped before it finished (nothing was reported)\n');
      process.exitCode = errorCode;
    };
    process.once('exit', onExit);
    try {
      service = await openService();
      const code = (await work(service, ...args)) ?? 0;
      process.exitCode = stdoutClosed() ? EXIT_BROKEN_PIPE : code;
    } catch (error) {
      process.stderr.write(`airlock: ${describeError(error, cliWording)}\n`);
      if (process.env.AIRLOCK_DEBUG && error instanceof Error) process.stderr.write(`${printableLines(error.stack ?? '')}\n`);
      process.exitCode = errorCode;
    } finally {
      settled = true;
      service?.dispose();
    }
  };
}

/** Runs a subcommand that needs only the host's task records (no engine): approvals, policy, audit, undo. */
export function storeAction<A extends unknown[]>(work: (store: TaskStore, ...args: A) => Promise<number | void> | number | void, errorCode = 1) {
  return async (...args: A) => {
    try {
      process.exitCode = (await work(new TaskStore(stateDir()), ...args)) ?? 0;
    } catch (error) {
      process.stderr.write(`airlock: ${describeError(error, cliWording)}\n`);
      process.exitCode = errorCode;
    }
  };
}
