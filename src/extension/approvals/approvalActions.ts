import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ApprovalRequest, ChangeService } from '../../core/index.js';
import type { CommandRegistry } from '../commandRegistry.js';
import type { ReviewManager } from '../review/reviewManager.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { withWorkProgress } from '../ui/workProgress.js';
import { showError } from '../ui/errorNotice.js';
import { noticeText } from '../ui/noticeText.js';
import { requestTitle } from './approvalLabels.js';
import { requestOfNode, type ApprovalsView } from './approvalsView.js';

type Verdict = { decision: 'allow'; scope: 'once' | 'task' } | { decision: 'deny' };

/** "For the task" is offered for commands and destinations only: a push is approved for its own commit. */
const TASK_SCOPE_KINDS: ReadonlySet<ApprovalRequest['kind']> = new Set(['command', 'network']);
/**
 * Kinds a reviewer may allow from this view. An apply writes to the host: it is approved from its
 * review (Review opens exactly the requested files), never with a blind Approve here.
 */
const APPROVABLE_KINDS: ReadonlySet<ApprovalRequest['kind']> = new Set(['command', 'network', 'push']);
/** Why an approved request could not be written, where trying again writes nothing either. */
const FINAL_WRITE_ERRORS: ReadonlySet<string> = new Set(['apply.requestUsed', 'apply.notAllowed', 'apply.notARequest', 'apply.requesterWrites', 'apply.otherWorkspace']);
/** Request notifications open at once; past this, one summary stands for the rest (VS Code shows three toasts at most). */
const MAX_REQUEST_TOASTS = 2;

/**
 * Approve once, approve for the task, deny with a reason: from the view's inline actions, the
 * command palette (which asks which request) or a new request's notification. Decisions go into
 * the same queue files as the CLI's, so the waiting agent resumes at once and the audit log
 * records who decided.
 */
export function registerApprovalActions(context: vscode.ExtensionContext, commands: CommandRegistry, session: AirlockSession, view: ApprovalsView, reviews: ReviewManager, output: vscode.LogOutputChannel): void {
  const { core } = session;

  /**
   * The request an action is for: the row it was clicked on, or one the reviewer picks. A row can
   * reach the command without its element when the view redraws under the click (its countdown
   * ticks): a review then goes to the one apply request waiting, or asks which.
   */
  const pick = async (node: unknown, verdict: Verdict['decision'] | 'task' | 'review'): Promise<ApprovalRequest | undefined> => {
    const given = requestOfNode(node);
    if (given) return given;
    const pending = session.pending().filter((request) => (verdict === 'review' ? request.kind === 'apply' : verdict === 'task' ? TASK_SCOPE_KINDS.has(request.kind) : verdict === 'deny' || APPROVABLE_KINDS.has(request.kind)));
    if (!pending.length) {
      void vscode.window.showInformationMessage(verdict === 'review' ? 'Airlock: no apply request is waiting for a reviewer.' : 'Airlock: no requests are waiting for a reviewer.');
      return undefined;
    }
    if (verdict === 'review' && pending.length === 1) return pending[0];
    const chosen = await vscode.window.showQuickPick(
      pending.map((request) => ({
        label: noticeText(core, requestTitle(core, request)),
        description: `task ${request.task} · ${core.shortDuration(Date.parse(request.expiresAt) - Date.now())} left`,
        detail: noticeText(core, `${request.cwd ? `in ${request.cwd} · ` : ''}${session.overview(request.task)?.workspace ?? ''} · ${request.reason}`),
        request,
      })),
      { title: verdict === 'deny' ? 'Deny which request?' : verdict === 'review' ? 'Review which request?' : 'Approve which request?', matchOnDescription: true, matchOnDetail: true },
    );
    return chosen?.request;
  };

  /** `reviewed`: the decision comes from the request's own review, which showed every file it writes. */
  const decide = async (request: ApprovalRequest, verdict: Verdict, reviewed = false): Promise<boolean> => {
    if (verdict.decision === 'allow' && ((!APPROVABLE_KINDS.has(request.kind) && !(reviewed && request.kind === 'apply')) || (verdict.scope === 'task' && !TASK_SCOPE_KINDS.has(request.kind)))) {
      void vscode.window.showWarningMessage(`Airlock: ${verdict.scope === 'task' ? 'approving for the whole task' : 'approving here'} is not offered for ${request.kind === 'apply' ? 'an apply (Review it, and approve from its review)' : `a ${request.kind}`}.`);
      return false;
    }
    const queue = new core.ApprovalBoard(session.store).queue(request.task);
    // Gone (its task's records were pruned) or no longer waiting: say so before asking anything.
    if (!queue.find(request.id) || queue.decision(request.id)) return report(queue, request, queue.decision(request.id) ? 'already-decided' : 'expired');
    let reason: string | undefined;
    if (verdict.decision === 'deny') {
      reason = await vscode.window.showInputBox({ title: noticeText(core, `Deny: ${requestTitle(core, request)}`), prompt: 'Why? The agent that asked is told this reason.', placeHolder: 'reason (optional)', ignoreFocusOut: true });
      if (reason === undefined) return false;
    }
    try {
      const by = core.currentUser();
      const outcome = queue.decide(request.id, verdict.decision === 'allow' ? { decision: 'allow', scope: verdict.scope, by } : { decision: 'deny', scope: 'once', by, ...(reason ? { reason } : {}) });
      if (outcome === 'decided') {
        const done = verdict.decision === 'deny' ? 'denied' : verdict.scope === 'task' ? 'allowed for the task' : 'allowed once';
        output.info(`approval ${request.id} ${done} by ${core.printableLine(by)}${reason ? `: ${core.printableLine(reason)}` : ''}`);
        vscode.window.setStatusBarMessage(`$(check) Airlock: ${done}: ${noticeText(core, requestTitle(core, request))}`, 5000);
        return true;
      }
      return report(queue, request, outcome);
    } catch (error) {
      await showError(core, output, error, `deciding approval ${request.id}`);
      return false;
    }
  };

  /** A decision that came too late: someone else decided, or the request ran out of time or went away. */
  const report = (queue: ReturnType<InstanceType<typeof core.ApprovalBoard>['queue']>, request: ApprovalRequest, outcome: 'already-decided' | 'expired'): false => {
    const earlier = queue.decision(request.id);
    const how = earlier ? `${earlier.decision === 'allow' ? 'allowed' : 'denied'} by ${noticeText(core, earlier.by)}` : 'decided';
    void vscode.window.showInformationMessage(outcome === 'expired' ? 'Airlock: that request is no longer waiting (it ran out of time or its task was cleaned up); nothing was recorded.' : `Airlock: that request was already ${how}; your decision was not recorded.`);
    return false;
  };

  const command = (id: string, verdict: Verdict) =>
    commands.register(id, async (node?: unknown) => {
      const request = await pick(node, verdict.decision === 'allow' && verdict.scope === 'task' ? 'task' : verdict.decision);
      if (request) await decide(request, verdict);
    });

  /**
   * A new request raises a notification unless the reviewer is already looking at the view. Its
   * Approve is offered only where the toast shows all there is to approve (a command or a
   * destination, in full); a push or an apply is decided after Show, with every file in sight.
   */
  let open = 0;
  let summaryShown = false;
  const notify = async (request: ApprovalRequest) => {
    if (view.view.visible) return;
    // A box that files requests by the dozen gets a few toasts and then one summary, never a wall of
    // Approve buttons to click through.
    if (open >= MAX_REQUEST_TOASTS) {
      if (summaryShown) return;
      summaryShown = true;
      try {
        // No count: a toast's text cannot follow requests that keep coming; the view's badge does.
        const choice = await vscode.window.showWarningMessage('Airlock: more requests are waiting for a reviewer; the Approvals view lists them all.', 'Show Approvals');
        if (choice) await vscode.commands.executeCommand('airlock.approvals.focus');
      } finally {
        summaryShown = false;
      }
      return;
    }
    open++;
    try {
      await notifyOne(request);
    } finally {
      open--;
    }
  };

  const notifyOne = async (request: ApprovalRequest) => {
    const title = noticeText(core, requestTitle(core, request));
    const whole = TASK_SCOPE_KINDS.has(request.kind) && title.length <= 160;
    const review = request.kind === 'apply' ? ['Review'] : [];
    const choice = await vscode.window.showWarningMessage(`Airlock: task ${request.task} asks — ${title} (${noticeText(core, request.reason)})`, ...(whole ? ['Approve'] : []), ...review, 'Deny', 'Show');
    if (choice === 'Approve') await decide(request, { decision: 'allow', scope: 'once' });
    else if (choice === 'Review') await reviewRequest(undefined, request);
    else if (choice === 'Deny') await decide(request, { decision: 'deny' });
    else if (choice === 'Show') await view.reveal(request);
  };

  /** The request a request review (its title buttons) stands for, still waiting. */
  const reviewedRequest = (arg: unknown): ApprovalRequest | undefined => {
    const key = reviews.keyOf(arg) ?? reviews.all().find(({ review }) => review.request)?.key;
    const id = key ? reviews.review(key)?.request?.id : undefined;
    return id ? session.pending().find((request) => request.id === id) : undefined;
  };

  const decideReviewed = async (arg: unknown, verdict: Verdict) => {
    const request = reviewedRequest(arg);
    const key = reviews.keyOf(arg) ?? reviews.all().find(({ review }) => review.request)?.key;
    if (!request) {
      void vscode.window.showInformationMessage('Airlock: that request is no longer waiting (it was decided, ran out of time or was withdrawn).');
      if (key) reviews.close(key);
      return;
    }
    const risky = key ? (reviews.review(key)?.items().filter((item) => item.change.risk.length) ?? []) : [];
    if (verdict.decision === 'allow' && risky.length) {
      // The request chose its risky files itself; a reviewer approves them knowingly, not with the rest.
      const choice = await vscode.window.showWarningMessage(
        noticeText(core, `Approve writing ${risky.length} risky file(s) to the host?`),
        { modal: true, detail: risky.map((item) => noticeText(core, `${item.path}: ${item.change.risk.join('; ')}`)).join('\n') },
        'Approve',
      );
      if (choice !== 'Approve') return;
    }
    if (!(await decide(request, verdict, true))) return;
    reviews.close(`${request.task}@${request.id}`);
    if (verdict.decision === 'allow' && core.applyRequestWriter(request) === 'reviewer') await writeApproved(request);
  };

  /**
   * An apply request nobody waits for (an agent's MCP request_apply): the reviewer's allow writes
   * it here, exactly the change set and files it names. A failure writes nothing and keeps the
   * allow, so Retry writes it later.
   */
  const writeApproved = async (request: ApprovalRequest): Promise<void> => {
    const workspace = session.overview(request.task)?.workspace ?? (typeof request.details?.workspace === 'string' ? request.details.workspace : '');
    let outcome: Awaited<ReturnType<ChangeService['applyApproved']>>;
    try {
      outcome = await withWorkProgress(noticeText(core, `Airlock: writing request ${request.id} to ${path.basename(workspace)}`), core.printableLine, async (progress) => (await reviews.changeService()).applyApproved(request, progress));
    } catch (error) {
      // What another try cannot change (written already, not allowed, not a request of this kind) gets no Retry.
      const retry = !(error instanceof core.AirlockError && FINAL_WRITE_ERRORS.has(error.code));
      output.error(`writing approved request ${request.id}: ${core.describeError(error)}`);
      const choice = await vscode.window.showErrorMessage(noticeText(core, `Airlock: request ${request.id} is allowed, but it was not written: ${core.describeError(error).split('\n')[0]}`), ...(retry ? ['Retry'] : []), 'Show Details');
      if (choice === 'Retry') await writeApproved(request);
      else if (choice === 'Show Details') output.show(true);
      return;
    }
    const { report } = outcome;
    for (const entry of report.written) output.info(`request ${request.id}, apply ${report.id ?? ''}: ${entry.action} ${core.printableLine(entry.path)}`);
    for (const note of [...report.refused, ...report.held]) output.info(`request ${request.id}: not written: ${core.printableLine(note.path)}: ${core.printableLine(note.reason)}`);
    const written = report.written.filter((entry) => entry.action !== 'mkdir').length;
    const kept = report.refused.length + report.held.length;
    const text = `Airlock: request ${request.id}: ${written} file(s) written to ${path.basename(workspace)}${report.unchanged.length ? `, ${report.unchanged.length} already identical` : ''}${kept ? `; ${kept} not written (the host's own version was kept)` : ''}.`;
    const show = kept ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const choice = await show(noticeText(core, text), ...(report.id ? ['Undo Last Apply'] : []), 'Show Details');
    if (choice === 'Undo Last Apply') await vscode.commands.executeCommand('airlock.undoLastApply', { task: request.task });
    else if (choice === 'Show Details') output.show(true);
  };

  const reviewRequest = async (node: unknown, given?: ApprovalRequest) => {
    const request = given ?? (await pick(node, 'review'));
    if (!request) return;
    if (request.kind !== 'apply') return view.reveal(request);
    try {
      await reviews.openRequest(request);
      await vscode.commands.executeCommand('workbench.view.scm');
    } catch (error) {
      await showError(core, output, error, `opening request ${request.id}`);
    }
  };

  context.subscriptions.push(
    commands.register('airlock.reviewRequest', (node: unknown) => reviewRequest(node)),
    commands.register('airlock.review.approveRequest', (arg: unknown) => decideReviewed(arg, { decision: 'allow', scope: 'once' })),
    commands.register('airlock.review.denyRequest', (arg: unknown) => decideReviewed(arg, { decision: 'deny' })),
    command('airlock.approveOnce', { decision: 'allow', scope: 'once' }),
    command('airlock.approveForTask', { decision: 'allow', scope: 'task' }),
    command('airlock.deny', { decision: 'deny' }),
    commands.register('airlock.showApprovals', () => vscode.commands.executeCommand('airlock.approvals.focus')),
    session.onDidRequest((request) => void notify(request)),
  );
}
