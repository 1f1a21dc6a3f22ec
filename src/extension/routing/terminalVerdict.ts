import * as path from 'node:path';

/** What VS Code tells an extension about a terminal it did not create itself (`Terminal.creationOptions`). */
export interface TerminalFacts {
  name: string;
  /** The executable, when known: VS Code fills it in for terminals it started from a profile. */
  shellPath?: string;
  /** An extension's pseudoterminal: no process VS Code started, the extension draws it. */
  pseudoterminal: boolean;
}

export interface RoutingFacts {
  /** Airlock's launchers: a terminal running one of them is in the sandbox. */
  launchers: string[];
  /** Whether the default profile in effect is Airlock's (a terminal with no executable gets the default). */
  defaultIsAirlock: boolean;
}

/**
 * A name an extension gives a pseudoterminal when it offers a shell: the shells' own names, or
 * "shell"/"terminal"/"console"/"REPL". Other pseudoterminals (a task's output, a log view) are not
 * somewhere an agent types commands.
 */
const SHELL_LIKE = /\b(?:sh|bash|zsh|fish|ksh|csh|tcsh|dash|ash|nu|pwsh|powershell|cmd|shell|terminal|console|repl)\b/i;

/** Whether a terminal's commands run in the sandbox, on the host, or whether it is no shell at all. */
export function terminalVerdict(terminal: TerminalFacts, routing: RoutingFacts): 'routed' | 'unrouted' | 'notShell' {
  if (terminal.pseudoterminal) return SHELL_LIKE.test(terminal.name) ? 'unrouted' : 'notShell';
  if (terminal.shellPath === undefined || terminal.shellPath === '') return routing.defaultIsAirlock ? 'routed' : 'unrouted';
  const executable = path.normalize(terminal.shellPath);
  return routing.launchers.some((launcher) => path.normalize(launcher) === executable) ? 'routed' : 'unrouted';
}
