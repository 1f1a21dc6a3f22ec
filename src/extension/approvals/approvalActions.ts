import * as vscode from 'vscode';
import type { ApprovalRequest } from '../../core/index.js';
import type { CommandRegistry } from '../commandRegistry.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { showError } from '../ui/errorNotice.js';
import { requestTitle } from './approvalLabels.js';
import { requestOfNode, type ApprovalsView } from './approvalsView.js';

type Verdict = { decision: 'allow'; scope: 'once' | 'task' } | { decision: 'deny' };

/**
 * Approve once, approve for the task, deny with a reason: from the view's inline actions, the
 * command palette (which asks which request) or a new request's notification. Decisions go into
 * the same queue files as the CLI's, so the waiting agent resumes at once and the audit log
 * records who decided.
 */
export function registerApprovalActions(context: vscode.ExtensionContext, commands: CommandRegistry, session: AirlockSession, view: ApprovalsView, output: vscode.LogOutputChannel): void {
  const { core } = session;

  const pick = async (node: unknown, verdict: Verdict['decision'] | 'task'): Promise<ApprovalRequest | undefined> => {
    const given = requestOfNode(node);
    if (given) return given;
    const pending = session.pending().filter((request) => verdict !== 'task' || request.kind === 'command' || request.kind === 'network');
    if (!pending.length) {
      void vscode.window.showInformationMessage('Airlock: no requests are waiting for a reviewer.');
      return undefined;
    }
    const chosen = await vscode.window.showQuickPick(
      pending.map((request) => ({ label: requestTitle(core, request), description: `task ${request.task}`, detail: core.printableLine(request.reason), request })),
      { title: verdict === 'deny' ? 'Deny which request?' : 'Approve which request?', matchOnDescription: true, matchOnDetail: true },
    );
    return chosen?.request;
  };

  const decide = async (request: ApprovalRequest, verdict: Verdict): Promise<boolean> => {
    let reason: string | undefined;
    if (verdict.decision === 'deny') {
      reason = await vscode.window.showInputBox({ title: `Deny: ${requestTitle(core, request)}`, prompt: 'Why? The agent that asked is told this reason.', placeHolder: 'reason (optional)', ignoreFocusOut: true });
      if (reason === undefined) return false;
    }
    try {
      const queue = new core.ApprovalBoard(session.store).queue(request.task);
      const by = core.currentUser();
      const outcome = queue.decide(request.id, verdict.decision === 'allow' ? { decision: 'allow', scope: verdict.scope, by } : { decision: 'deny', scope: 'once', by, ...(reason ? { reason } : {}) });
      if (outcome === 'decided') {
        const done = verdict.decision === 'deny' ? 'denied' : verdict.scope === 'task' ? 'allowed for the task' : 'allowed once';
        output.info(`approval ${request.id} ${done} by ${core.printableLine(by)}${reason ? `: ${core.printableLine(reason)}` : ''}`);
        vscode.window.setStatusBarMessage(`$(check) Airlock: ${done}: ${requestTitle(core, request)}`, 5000);
        return true;
      }
      const earlier = queue.decision(request.id);
      const how = earlier ? `${earlier.decision === 'allow' ? 'allowed' : 'denied'} by ${core.printableLine(earlier.by)}` : 'decided';
      void vscode.window.showInformationMessage(outcome === 'expired' ? `Airlock: that request ran out of time before your decision and was refused.` : `Airlock: that request was already ${how}; your decision was not recorded.`);
      return false;
    } catch (error) {
      await showError(core, output, error, `deciding approval ${request.id}`);
      return false;
    }
  };

  const command = (id: string, verdict: Verdict) =>
    commands.register(id, async (node?: unknown) => {
      const request = await pick(node, verdict.decision === 'allow' && verdict.scope === 'task' ? 'task' : verdict.decision);
      if (request) await decide(request, verdict);
    });

  /** A new request raises a notification unless the reviewer is already looking at the view. */
  const notify = async (request: ApprovalRequest) => {
    if (view.view.visible) return;
    const choice = await vscode.window.showWarningMessage(`Airlock: task ${request.task} asks — ${requestTitle(core, request)} (${core.printableLine(request.reason)})`, 'Approve', 'Deny', 'Show');
    if (choice === 'Approve') await decide(request, { decision: 'allow', scope: 'once' });
    else if (choice === 'Deny') await decide(request, { decision: 'deny' });
    else if (choice === 'Show') await view.reveal(request);
  };

  context.subscriptions.push(
    command('airlock.approveOnce', { decision: 'allow', scope: 'once' }),
    command('airlock.approveForTask', { decision: 'allow', scope: 'task' }),
    command('airlock.deny', { decision: 'deny' }),
    commands.register('airlock.showApprovals', () => vscode.commands.executeCommand('airlock.approvals.focus')),
    session.onDidRequest((request) => void notify(request)),
  );
}
