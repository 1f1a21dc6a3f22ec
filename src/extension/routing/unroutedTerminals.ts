import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LauncherPaths } from './launcher.js';
import { PROFILE_NAME, type RoutingOs } from './routingSettings.js';
import { ownTerminals } from './terminalProfile.js';
import { terminalVerdict } from './terminalVerdict.js';

/** Where the warning goes: the Tasks view's message (TasksView.setNotice). */
export interface NoticeTarget {
  setNotice(text: string | undefined): void;
}

/**
 * While routing is on, names each terminal that opens outside the sandbox (a host shell, another
 * extension's shell-like pseudoterminal) in the Tasks view, until it closes or routing stops.
 * Terminals already open when routing starts are not judged: only those that open under it.
 */
export class UnroutedTerminals implements vscode.Disposable {
  /** Each with the name it is shown by: VS Code names a terminal it starts only once its process has a title, after it opened. */
  private readonly unrouted: { terminal: vscode.Terminal; label: string }[] = [];
  private watching: vscode.Disposable[] = [];
  private target: NoticeTarget | undefined;
  private printable: (text: string) => string = (text) => text.replace(/[\p{Cc}\p{Cf}]/gu, ' ').slice(0, 80);

  constructor(private readonly launchers: LauncherPaths, private readonly os: RoutingOs, private readonly output: vscode.LogOutputChannel) {}

  /** The view to warn in (it exists once the core has loaded) and the core's printable-text rule for names. */
  attach(target: NoticeTarget, printable: (text: string) => string): void {
    this.target = target;
    this.printable = (text) => printable(text).slice(0, 80);
    this.show();
  }

  /** Starts or stops watching as routing turns on or off. */
  setRouting(on: boolean): void {
    if (on && !this.watching.length) {
      this.watching = [vscode.window.onDidOpenTerminal((terminal) => this.judge(terminal)), vscode.window.onDidCloseTerminal((terminal) => this.forget(terminal))];
    } else if (!on) {
      for (const disposable of this.watching) disposable.dispose();
      this.watching = [];
      this.unrouted.length = 0;
      this.show();
    }
  }

  private judge(terminal: vscode.Terminal): void {
    if (ownTerminals.has(terminal)) return;
    const options = terminal.creationOptions;
    const pseudoterminal = 'pty' in options;
    const shellPath = 'pty' in options ? undefined : options.shellPath;
    const verdict = terminalVerdict({ name: terminal.name, shellPath, pseudoterminal }, { launchers: [this.launchers.airlock, this.launchers.shell, this.launchers.run], defaultIsAirlock: this.defaultIsAirlock() });
    if (verdict !== 'unrouted') return;
    const label = this.printable(terminal.name || (shellPath ? path.basename(shellPath) : 'terminal'));
    this.output.warn(`routing: terminal "${label}" opened outside the sandbox (${pseudoterminal ? 'an extension\'s pseudoterminal' : shellPath ? `runs ${this.printable(shellPath)}` : 'the default profile is not Airlock\'s'})`);
    this.unrouted.push({ terminal, label });
    this.show();
  }

  /** Whether a terminal with no executable of its own gets Airlock's shell: the default profile in effect names Airlock's, whose path is the launcher. */
  private defaultIsAirlock(): boolean {
    const terminal = vscode.workspace.getConfiguration('terminal.integrated');
    const profile = terminal.get<Record<string, { path?: unknown } | null>>(`profiles.${this.os}`)?.[PROFILE_NAME];
    return terminal.get(`defaultProfile.${this.os}`) === PROFILE_NAME && profile?.path === this.launchers.shell;
  }

  private forget(terminal: vscode.Terminal): void {
    const index = this.unrouted.findIndex((item) => item.terminal === terminal);
    if (index === -1) return;
    this.unrouted.splice(index, 1);
    this.show();
  }

  private show(): void {
    const names = this.unrouted.map((item) => `"${item.label}"`);
    const text = !names.length
      ? undefined
      : names.length === 1
        ? `Terminal ${names[0]} runs outside the sandbox: commands typed or sent there run on the host.`
        : `Terminals ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''} run outside the sandbox: commands typed or sent there run on the host.`;
    this.target?.setNotice(text);
  }

  dispose(): void {
    // The view may be gone already: nothing is shown, the watches just end.
    this.target = undefined;
    this.setRouting(false);
  }
}
