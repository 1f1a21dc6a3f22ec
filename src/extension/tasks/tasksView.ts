import * as vscode from 'vscode';
import type { TaskOverview } from '../../core/index.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { taskDescription, taskDetails, type DetailRow } from './taskLabels.js';

type Node = { kind: 'task'; task: TaskOverview } | { kind: 'recent'; tasks: TaskOverview[]; total: number } | { kind: 'detail'; task: TaskOverview; row: DetailRow };

/** Nodes this view made: only those name a task for a command (see requestOfNode). */
const ours = new WeakSet<object>();
const made = <T extends Node>(node: T): T => {
  ours.add(node);
  return node;
};

/** The task a command from the Tasks view (inline, context menu) was invoked on. */
export function taskOfNode(node: unknown): TaskOverview | undefined {
  if (typeof node !== 'object' || node === null || !ours.has(node)) return undefined;
  const candidate = node as Node;
  return candidate.kind === 'task' || candidate.kind === 'detail' ? candidate.task : undefined;
}

/**
 * The Tasks view: live tasks at the top, each with its state, image, runtime, network mode and
 * phase, TTL left, last change count and pending approvals; ended tasks under a collapsed
 * "Recent". It redraws on the session's events; the only timer moves the TTL countdown on, and
 * only while the view is visible and a task is live.
 */
export class TasksView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<Node>;
  private readonly disposables: vscode.Disposable[] = [];
  private clock: NodeJS.Timeout | undefined;
  private notice: string | undefined;

  constructor(private readonly session: AirlockSession) {
    this.view = vscode.window.createTreeView('airlock.tasks', { treeDataProvider: this, showCollapseAll: false });
    this.disposables.push(
      this.view,
      this.changed,
      session.onDidChangeTasks(() => this.refresh()),
      session.onDidChangeApprovals(() => this.refresh()),
      this.view.onDidChangeVisibility(() => this.refresh()),
    );
    this.refresh();
  }

  refresh(): void {
    const { live } = this.session.core.liveAndRecent(this.session.overviews());
    const running = live.filter((task) => task.state === 'running').length;
    this.view.badge = running ? { value: running, tooltip: `${running} running sandboxed task${running === 1 ? '' : 's'}` } : undefined;
    const engine = this.session.engine;
    this.view.message = [engine.kind === 'unreachable' ? `No container engine: ${engine.message} Airlock keeps trying.` : undefined, this.notice].filter(Boolean).join(' ') || undefined;
    // The redraw's getChildren schedules the next countdown tick.
    this.changed.fire(undefined);
  }

  /** A warning from another part of Airlock (routing: a terminal outside the sandbox), shown with the engine's; undefined clears it. */
  setNotice(text: string | undefined): void {
    this.notice = text;
    this.refresh();
  }

  /** Schedules the next redraw of the TTL countdown: at the next whole minute, or second in the last two minutes. */
  private tick(live: TaskOverview[]): void {
    clearTimeout(this.clock);
    const soonest = Math.min(...live.map((task) => this.session.core.ttlLeft(task)));
    if (!this.view.visible || !Number.isFinite(soonest)) return;
    const step = soonest <= 120_000 ? 1000 : 60_000;
    this.clock = setTimeout(() => this.changed.fire(undefined), Math.max(250, soonest % step || step));
    this.clock.unref?.();
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      const { live, recent, endedTotal } = this.session.core.liveAndRecent(this.session.overviews());
      const nodes: Node[] = live.map((task) => made({ kind: 'task', task }));
      if (recent.length) nodes.push(made({ kind: 'recent', tasks: recent, total: endedTotal }));
      if (this.view.visible) this.tick(live);
      return nodes;
    }
    if (node.kind === 'recent') return node.tasks.map((task) => made({ kind: 'task', task }));
    if (node.kind === 'task') return taskDetails(this.session.core, node.task, this.session.phaseOf(node.task.id)).map((row) => made({ kind: 'detail', task: node.task, row }));
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const { printableLine } = this.session.core;
    if (node.kind === 'recent') {
      const item = new vscode.TreeItem('Recent', vscode.TreeItemCollapsibleState.Collapsed);
      item.id = 'recent';
      item.description = node.total > node.tasks.length ? `${node.tasks.length} of ${node.total} ended` : `${node.total} ended`;
      item.iconPath = new vscode.ThemeIcon('history');
      item.contextValue = 'airlock.recent';
      return item;
    }
    const task = node.task;
    if (node.kind === 'detail') {
      const item = new vscode.TreeItem(`${node.row.label}: ${printableLine(node.row.value)}`, vscode.TreeItemCollapsibleState.None);
      item.id = `${task.id}/${node.row.key}`;
      item.iconPath = new vscode.ThemeIcon(node.row.icon);
      item.tooltip = node.row.tooltip && printableLine(node.row.tooltip);
      item.contextValue = `airlock.detail.${node.row.key}`;
      if (node.row.key === 'approvals' && task.pendingApprovals) item.command = { title: 'Show Approvals', command: 'airlock.approvals.focus' };
      if (node.row.key === 'changes' && task.state === 'running') item.command = { title: 'Count Changes', command: 'airlock.countChanges', arguments: [node] };
      return item;
    }
    const item = new vscode.TreeItem(`${printableLine(task.folder)} · ${task.id}`, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = task.id;
    item.description = taskDescription(this.session.core, task, this.session.phaseOf(task.id));
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**Task ${task.id}**\n\n`);
    for (const row of taskDetails(this.session.core, task, this.session.phaseOf(task.id))) tooltip.appendMarkdown(`${row.label}: `).appendText(printableLine(row.value)).appendMarkdown('  \n');
    item.tooltip = tooltip;
    item.iconPath = task.state === 'running' ? new vscode.ThemeIcon('vm-running', new vscode.ThemeColor('testing.iconPassed')) : task.state === 'stopped' ? new vscode.ThemeIcon('vm-outline') : new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'));
    item.contextValue = `airlock.task.${task.state === 'destroyed' ? 'ended' : task.state}`;
    item.accessibilityInformation = { label: `Task ${task.id} for ${printableLine(task.folder)}: ${item.description}` };
    return item;
  }

  getParent(node: Node): Node | undefined {
    return node.kind === 'detail' ? made({ kind: 'task', task: node.task }) : undefined;
  }

  dispose(): void {
    clearTimeout(this.clock);
    for (const disposable of this.disposables) disposable.dispose();
  }
}
