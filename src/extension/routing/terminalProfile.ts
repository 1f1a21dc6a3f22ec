import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { LauncherPaths } from './launcher.js';

export const PROFILE_ID = 'airlock.sandbox';
const icon = () => new vscode.ThemeIcon('lock');

/** Terminals this extension opened: in the sandbox by construction (see unroutedTerminals). */
export const ownTerminals = new WeakSet<vscode.Terminal>();

/**
 * What Airlock's terminals add to the environment of the launcher (which runs on the host): the
 * state folder, when this extension host was given one, so the CLI sees the tasks the views show.
 */
export function sandboxTerminalEnv(): Record<string, string> {
  return process.env.AIRLOCK_STATE_DIR ? { AIRLOCK_STATE_DIR: process.env.AIRLOCK_STATE_DIR } : {};
}

/**
 * The "Airlock sandbox" entry of the terminal menu: `airlock shell` in the task for the folder the
 * terminal opens in. `launchers` settles once the launcher files are written at activation.
 */
export function registerSandboxProfile(launchers: Promise<LauncherPaths>): vscode.Disposable {
  return vscode.window.registerTerminalProfileProvider(PROFILE_ID, {
    async provideTerminalProfile() {
      if (process.platform === 'win32') throw new Error('The Airlock sandbox terminal is not supported on Windows: its launcher is a POSIX shell script.');
      const { shell } = await launchers;
      revealNextTerminal(shell);
      return new vscode.TerminalProfile({ name: 'Airlock sandbox', shellPath: shell, shellArgs: [], iconPath: icon(), env: sandboxTerminalEnv() });
    },
  });
}

/** VS Code opens the terminal as soon as the profile comes back; this only bounds a profile it never used. */
const REVEAL_WINDOW_MS = 10_000;

/**
 * Shows the next terminal that opens running `shellPath`. VS Code creates a contributed profile's
 * terminal and focuses it, but never reveals the panel: picked from the command palette ("Create
 * New Terminal (With Profile)") while the panel is closed, the sandbox terminal would open unseen.
 */
function revealNextTerminal(shellPath: string): void {
  const done = () => {
    clearTimeout(timer);
    listener.dispose();
  };
  const listener = vscode.window.onDidOpenTerminal((terminal) => {
    const options = terminal.creationOptions;
    if ('pty' in options || options.shellPath !== shellPath) return;
    done();
    terminal.show(false);
  });
  const timer = setTimeout(done, REVEAL_WINDOW_MS);
}

export interface SandboxTerminalTask {
  id: string;
  /** The host folder the task copied: the terminal's working directory. */
  workspace: string;
}

/**
 * A terminal in the panel running `airlock shell <id>` (or `airlock shell`, the task for the
 * folder, without a task). It takes focus only when a person asked for it (`focus`); otherwise it
 * is created without being shown.
 */
export function openSandboxTerminal(launchers: LauncherPaths, task: SandboxTerminalTask | undefined, options: { focus: boolean }): vscode.Terminal {
  const folder = task?.workspace ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const terminal = vscode.window.createTerminal({
    name: task ? `Airlock sandbox (${task.id})` : 'Airlock sandbox',
    shellPath: launchers.airlock,
    shellArgs: task ? ['shell', task.id] : ['shell'],
    // A folder that is gone would make the terminal fail to start; the launcher's own cwd then serves.
    cwd: folder && fs.existsSync(folder) ? folder : undefined,
    iconPath: icon(),
    env: sandboxTerminalEnv(),
    location: vscode.TerminalLocation.Panel,
  });
  ownTerminals.add(terminal);
  if (options.focus) terminal.show(false);
  return terminal;
}
