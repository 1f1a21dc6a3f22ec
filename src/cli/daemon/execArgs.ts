import { Command } from 'commander';
import { defineExec, type ExecFlags } from '../execCommand.js';

export interface DaemonExec {
  task: string;
  argv: string[];
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * `exec`'s arguments as the CLI parses them, or undefined when the request needs the full CLI:
 * a terminal (-t), standard input (-i) or the explicit runner choice.
 */
export function parseExecArgs(args: string[]): DaemonExec | undefined {
  let parsed: DaemonExec | undefined;
  let needsCli = false;
  const command = defineExec(new Command('exec'))
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined })
    .action((task: string, argv: string[], flags: ExecFlags) => {
      needsCli = Boolean(flags.interactive || flags.tty || flags.runner);
      parsed = { task, argv, cwd: flags.cwd, env: flags.env, timeoutMs: flags.timeout ? Math.round(flags.timeout * 1000) : undefined };
    });
  try {
    command.parse(args, { from: 'user' });
  } catch {
    return undefined; // a usage error: the full CLI says it in its own words
  }
  return needsCli ? undefined : parsed;
}
