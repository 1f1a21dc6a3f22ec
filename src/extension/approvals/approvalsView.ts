import * as vscode from 'vscode';
import type { ApprovalRequest } from '../../core/index.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { kindIcon, requestDescription, requestRows, requestTitle, type RequestRow } from './approvalLabels.js';

type Node = { kind: 'request'; request: ApprovalRequest } | { kind: 'row'; request: ApprovalRequest; row: RequestRow } | { kind: 'item'; request: ApprovalRequest; row: RequestRow; item: string; index: number };

/**
 * Nodes this view made. A command's argument counts as a node only if it is one of them: anything
 * else (a `command:` link's JSON arguments, another extension's call) is not a reviewer's choice
 * of request, and the command asks instead.
 */
const ours = new WeakSet<object>();
const made = <T extends Node>(node: T): T => {
  ours.add(node);
  return node;
};

/** The request a command from the Approvals view was invoked on (the request or any line under it). */
export function requestOfNode(node: unknown): ApprovalRequest | undefined {
  return typeof node === 'object' && node !== null && ours.has(node) ? (node as Node).request : undefined;
}

/**
 * The Approvals view, for reviewers: every pending request across tasks, expanded to what is
 * needed to decide (what, which task and folder, why, who asked, time left; a push's remote,
 * branch, commit and files, the file list folded so a 40-file push stays readable). Inline
 * actions approve once, approve for the task, or deny with a reason.
 */
export class ApprovalsView implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<Node>;
  private readonly disposables: vscode.Disposable[] = [];
  private clock: NodeJS.Timeout | undefined;

  constructor(private readonly session: AirlockSession) {
    this.view = vscode.window.createTreeView('airlock.approvals', { treeDataProvider: this });
    this.disposables.push(this.view, this.changed, session.onDidChangeApprovals(() => this.refresh()), session.onDidChangeTasks(() => this.changed.fire(undefined)), this.view.onDidChangeVisibility(() => this.refresh()));
    this.refresh();
  }

  refresh(): void {
    const pending = this.session.pending();
    this.view.badge = pending.length ? { value: pending.length, tooltip: `${pending.length} request${pending.length === 1 ? '' : 's'} waiting for a reviewer` } : undefined;
    this.view.description = pending.length ? `${pending.length} waiting` : undefined;
    this.changed.fire(undefined);
    clearTimeout(this.clock);
    // Time left moves on while the view is looked at; a request that runs out leaves by the watcher's event.
    if (this.view.visible && pending.length) {
      this.clock = setTimeout(() => this.refresh(), 1000 * (Math.min(...pending.map((request) => Date.parse(request.expiresAt) - Date.now())) <= 120_000 ? 1 : 15));
      this.clock.unref?.();
    }
  }

  private taskOf(request: ApprovalRequest) {
    return this.session.overview(request.task);
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      return this.session.pending().map((request) => made({ kind: 'request', request }));
    }
    if (node.kind === 'request') return requestRows(this.session.core, node.request, this.taskOf(node.request)).map((row) => made({ kind: 'row', request: node.request, row }));
    if (node.kind === 'row') return (node.row.items ?? []).map((item, index) => made({ kind: 'item', request: node.request, row: node.row, item, index }));
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const { core } = this.session;
    const { request } = node;
    if (node.kind === 'request') {
      const item = new vscode.TreeItem(requestTitle(core, request), vscode.TreeItemCollapsibleState.Expanded);
      item.id = request.id;
      item.description = requestDescription(core, request, this.taskOf(request));
      item.iconPath = new vscode.ThemeIcon(kindIcon(request), new vscode.ThemeColor('notificationsWarningIcon.foreground'));
      const tooltip = new vscode.MarkdownString();
      for (const row of requestRows(core, request, this.taskOf(request))) tooltip.appendMarkdown(`**${row.label}:** `).appendText(row.value).appendMarkdown('  \n');
      item.tooltip = tooltip;
      // A push is approved for its own commit only; "for the task" is offered for commands and destinations.
      item.contextValue = `airlock.request.${request.kind}`;
      return item;
    }
    if (node.kind === 'row') {
      const many = Boolean(node.row.items?.length);
      const item = new vscode.TreeItem(`${node.row.label}: ${node.row.value}`, many && node.row.items!.length > 8 ? vscode.TreeItemCollapsibleState.Collapsed : many ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
      item.id = `${request.id}/${node.row.key}`;
      item.iconPath = new vscode.ThemeIcon(node.row.icon);
      item.tooltip = `${node.row.label}: ${node.row.value}`;
      item.contextValue = 'airlock.requestDetail';
      return item;
    }
    const item = new vscode.TreeItem(node.item, vscode.TreeItemCollapsibleState.None);
    item.id = `${request.id}/${node.row.key}/${node.index}`;
    item.iconPath = new vscode.ThemeIcon('file');
    item.contextValue = 'airlock.requestDetail';
    return item;
  }

  getParent(node: Node): Node | undefined {
    if (node.kind === 'request') return undefined;
    if (node.kind === 'row') return made({ kind: 'request', request: node.request });
    return made({ kind: 'row', request: node.request, row: node.row });
  }

  /** Shows a request in the view (after the reviewer clicked Show: the view takes focus). */
  async reveal(request: ApprovalRequest): Promise<void> {
    await vscode.commands.executeCommand('airlock.approvals.focus');
    await this.view.reveal(made({ kind: 'request', request }), { select: true, focus: true, expand: true }).then(undefined, () => undefined);
  }

  dispose(): void {
    clearTimeout(this.clock);
    for (const disposable of this.disposables) disposable.dispose();
  }
}
