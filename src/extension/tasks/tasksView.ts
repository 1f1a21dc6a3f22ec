import * as vscode from 'vscode';
import type { TaskOverview } from '../../core/index.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { taskDescription, taskDetails, type DetailRow } from './taskLabels.js';

type Node =
  | { kind: 'task'; task: TaskOverview }
  /** A live task as its record has it, before the engine first answered: listed, not yet confirmed, no commands. */
  | { kind: 'recorded'; task: TaskOverview }
  | { kind: 'recent'; tasks: TaskOverview[]; total: number }
  | { kind: 'detail'; task: TaskOverview; row: DetailRow };

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
 *
 * Until the engine first answers (loading its client and asking it takes a few hundred ms after a
 * window opens), the live tasks are listed from their records, marked as being checked, so the
 * view is never empty while it waits; a row's tooltip is built only when it is hovered.
 */
export class TasksView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<Node>;
  private readonly disposables: vscode.Disposable[] = [];
  private clock: NodeJS.Timeout | undefined;
  private notice: string | undefined;
  /** The records' live tasks while the engine has not answered yet; read once per engine state. */
  private recorded: TaskOverview[] | undefined;

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

  /** Live tasks as recorded, while the engine is still being reached for the first time; none after. */
  private recordedLive(): TaskOverview[] {
    if (this.session.engine.kind !== 'connecting') {
      this.recorded = undefined;
      return [];
    }
    if (!this.recorded) {
      const { core, store } = this.session;
      const now = Date.now();
      const pending = this.session.pending();
      const records = store.all().filter((record) => !record.destroyedAt && Date.parse(record.expiresAt) > now);
      this.recorded = core.liveAndRecent(records.map((record) => core.taskOverview(store, { record, state: 'running' }, pending))).live;
    }
    return this.recorded;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      const { live, recent, endedTotal } = this.session.core.liveAndRecent(this.session.overviews());
      const nodes: Node[] = live.map((task) => made({ kind: 'task', task }));
      for (const task of this.recordedLive()) if (!live.some((each) => each.id === task.id)) nodes.push(made({ kind: 'recorded', task }));
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
    if (node.kind === 'recorded') {
      const item = new vscode.TreeItem(`${printableLine(task.folder)} · ${task.id}`, vscode.TreeItemCollapsibleState.None);
      item.id = task.id;
      item.description = 'checking with the engine…';
      item.tooltip = `Task ${task.id} is recorded as live; Airlock is asking the container engine how it is.`;
      item.iconPath = new vscode.ThemeIcon('loading~spin');
      item.contextValue = 'airlock.recorded';
      return item;
    }
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
    item.iconPath = task.state === 'running' ? new vscode.ThemeIcon('vm-running', new vscode.ThemeColor('testing.iconPassed')) : task.state === 'stopped' ? new vscode.ThemeIcon('vm-outline') : new vscode.ThemeIcon('circle-slash', new vscode.ThemeColor('disabledForeground'));
    item.contextValue = `airlock.task.${task.state === 'destroyed' ? 'ended' : task.state}`;
    item.accessibilityInformation = { label: `Task ${task.id} for ${printableLine(task.folder)}: ${item.description}` };
    return item;
  }

  /** A task row's tooltip, built when it is hovered (VS Code asks only then): the details, times and last look are not first-render work. */
  resolveTreeItem(item: vscode.TreeItem, node: Node): vscode.TreeItem {
    if (node.kind !== 'task' || item.tooltip !== undefined) return item;
    const { printableLine } = this.session.core;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**Task ${node.task.id}**\n\n`);
    for (const row of taskDetails(this.session.core, node.task, this.session.phaseOf(node.task.id))) tooltip.appendMarkdown(`${row.label}: `).appendText(printableLine(row.value)).appendMarkdown('  \n');
    item.tooltip = tooltip;
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
