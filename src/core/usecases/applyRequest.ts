import type { ApplySelection } from '../changes/applyChanges.js';
import type { ChangeService, DiffOptions } from '../changes/changeService.js';
import { AirlockError } from '../ground/errors.js';
import { ApprovalBoard } from '../approvals/approvalBoard.js';
import type { ApprovalDecision, ApprovalRequest } from '../approvals/approvalQueue.js';
import type { AuditEntry } from '../audit/auditLog.js';
import type { TaskStore } from '../state/taskStore.js';

/** Carries the filed request out of `applyAfterApproval` before it starts waiting. */
class Filed extends Error {
  constructor(readonly request: ApprovalRequest) {
    super('filed');
  }
}

/**
 * Files an `apply` request for a reviewer, exactly as an agent's apply-after-approval does (the
 * same change set, selection, details and timeout, by the same code), and returns as soon as it
 * is in the queue: it never waits and never writes to the host itself. Since nobody waits for it,
 * the reviewer's front end writes it as it records the allow (`ChangeService.applyApproved`). The
 * request names its change set by id and every file's hash, so what a reviewer approves is fixed
 * whoever writes it.
 */
export async function fileApplyRequest(changes: ChangeService, idOrPrefix: string, selection: ApplySelection, options: DiffOptions & { changeSet?: string } = {}): Promise<ApprovalRequest> {
  try {
    await changes.applyAfterApproval(idOrPrefix, selection, {
      ...options,
      writer: 'reviewer',
      onWaiting: (request) => {
        // Thrown between filing and waiting: nothing after it (the wait, the apply) runs.
        throw new Filed(request);
      },
    });
  } catch (error) {
    if (error instanceof Filed) return error.request;
    throw error;
  }
  throw new AirlockError('apply: the request was not filed', { code: 'apply.notFiled', hint: 'Try again.' });
}

/** Where an apply request stands, for whoever filed it and asks again. */
export type ApplyRequestOutcome =
  | { state: 'waiting'; request: ApprovalRequest }
  | { state: 'refused'; request: ApprovalRequest; decision: ApprovalDecision }
  /** Allowed, and not (yet) in the audit log as written: the writer is at it, or failed and says so where it runs. */
  | { state: 'allowed'; request: ApprovalRequest; decision: ApprovalDecision }
  | { state: 'applied'; request: ApprovalRequest; decision: ApprovalDecision; applied: AuditEntry };

/** The outcome of one of a task's apply requests: its decision, and the apply the audit log records for it. */
export function applyRequestOutcome(store: TaskStore, task: string, id: string): ApplyRequestOutcome {
  const queue = new ApprovalBoard(store).queue(task);
  const request = /^[a-f0-9]{24}$/.test(id) ? queue.find(id) : undefined;
  if (request?.kind !== 'apply') {
    throw new AirlockError(`approval: ${id} is not an apply request of task ${task}`, { code: 'apply.notARequest', hint: 'Give the id request_apply answered with.', field: 'approval' });
  }
  if (!queue.decision(id) && Date.parse(request.expiresAt) <= Date.now()) queue.expire();
  const decision = queue.decision(id);
  if (!decision) return { state: 'waiting', request };
  if (decision.decision === 'deny') return { state: 'refused', request, decision };
  const applied = store
    .audit(task)
    .records()
    .find((entry) => entry.type === 'changes.applied' && entry.request === id);
  return applied ? { state: 'applied', request, decision, applied } : { state: 'allowed', request, decision };
}
