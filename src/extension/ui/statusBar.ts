import * as vscode from 'vscode';
import type { AirlockSession } from '../session/airlockSession.js';

/**
 * This workspace's task in the status bar: its id and network mode, and how many requests wait for
 * a reviewer (warning colours while any do). Clicking it shows the Airlock side bar.
 */
export function registerStatusBar(context: vscode.ExtensionContext, session: AirlockSession): void {
  const item = vscode.window.createStatusBarItem('airlock.status', vscode.StatusBarAlignment.Left, 50);
  item.name = 'Airlock';
  item.command = 'workbench.view.extension.airlock';
  const { core } = session;

  const update = () => {
    // In a multi-root window, the folder of the file being edited; otherwise the first.
    const active = vscode.window.activeTextEditor?.document.uri;
    const folder = ((active && vscode.workspace.getWorkspaceFolder(active)) ?? vscode.workspace.workspaceFolders?.[0])?.uri.fsPath;
    const task = folder ? session.taskFor(folder) : undefined;
    const pending = session.pending().length;
    const waiting = pending ? ` · $(bell-dot) ${pending} waiting` : '';
    if (session.engine.kind === 'unreachable' && !task) item.text = `$(shield) Airlock: no engine${waiting}`;
    else if (task) item.text = `$(shield) Airlock ${task.id} · ${task.network === 'deny' ? 'offline' : session.phaseOf(task.id) ? `allowlist, ${session.phaseOf(task.id)}` : 'allowlist'}${waiting}`;
    else item.text = `$(shield) Airlock: no task${waiting}`;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(task ? `Task **${task.id}** runs a sandboxed copy of this folder (${task.runtime === 'runsc' ? 'gVisor' : 'runc'}, ${core.shortDuration(core.ttlLeft(task))} left).` : 'No sandboxed task runs for this folder.');
    if (pending) tooltip.appendMarkdown(`\n\n${pending} request(s) wait for a reviewer.`);
    if (session.engine.kind === 'unreachable') tooltip.appendMarkdown('\n\n').appendText(`Engine: ${session.engine.message}`);
    tooltip.appendMarkdown('\n\nClick to show the Airlock side bar.');
    item.tooltip = tooltip;
    item.backgroundColor = pending ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    item.show();
  };

  context.subscriptions.push(item, session.onDidChangeTasks(update), session.onDidChangeApprovals(update), session.onDidChangeEngine(update), vscode.workspace.onDidChangeWorkspaceFolders(update), vscode.window.onDidChangeActiveTextEditor(update));
  update();
}
