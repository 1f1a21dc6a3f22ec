import type { ApplySelection } from '../changes/applyChanges.js';
import type { ChangeService, DiffOptions } from '../changes/changeService.js';
import { AirlockError } from '../ground/errors.js';
import type { ApprovalRequest } from '../approvals/approvalQueue.js';

/** Carries the filed request out of `applyAfterApproval` before it starts waiting. */
class Filed extends Error {
  constructor(readonly request: ApprovalRequest) {
    super('filed');
  }
}

/**
 * Files an `apply` request for a reviewer, exactly as an agent's apply-after-approval does (the
 * same change set, selection, details and timeout, by the same code), and returns as soon as it
 * is in the queue: it never waits and never writes to the host. The request names its change set
 * by id and every file's hash, so what a reviewer approves is fixed whoever writes it.
 */
export async function fileApplyRequest(changes: ChangeService, idOrPrefix: string, selection: ApplySelection, options: DiffOptions & { changeSet?: string } = {}): Promise<ApprovalRequest> {
  try {
    await changes.applyAfterApproval(idOrPrefix, selection, {
      ...options,
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
