import * as vscode from 'vscode';
import type { TaskOverview } from '../../core/index.js';
import { requestOfNode } from '../approvals/approvalsView.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { noticeText } from '../ui/noticeText.js';
import { taskOfNode } from './tasksView.js';

/**
 * The task a command acts on: the one it was invoked on (a Tasks or Approvals row), else asked
 * with this workspace's task first; a single running task is taken without asking.
 */
export async function pickTaskFor(session: AirlockSession, node: unknown, live: boolean, title: string): Promise<TaskOverview | undefined> {
  const { core } = session;
  const given = taskOfNode(node) ?? session.overview(requestOfNode(node)?.task ?? '');
  if (given) return given;
  const { live: running, recent } = core.liveAndRecent(session.overviews());
  const candidates = live ? running : [...running, ...recent];
  if (!candidates.length) {
    void vscode.window.showInformationMessage(live ? 'Airlock: no task is running.' : 'Airlock: there are no tasks yet.');
    return undefined;
  }
  const here = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const ordered = [...candidates.filter((task) => task.workspace === here), ...candidates.filter((task) => task.workspace !== here)];
  if (ordered.length === 1 && live) return ordered[0];
  const chosen = await vscode.window.showQuickPick(
    ordered.map((task) => ({ label: `${noticeText(core, task.folder)} · ${task.id}`, description: task.state === 'destroyed' ? `ended${task.endReason ? ` (${noticeText(core, task.endReason)})` : ''}` : task.state, detail: noticeText(core, task.workspace), task })),
    { title },
  );
  return chosen?.task;
}
