import { AirlockError } from '../ground/errors.js';
import type { TaskStore } from '../state/taskStore.js';
import { ApprovalQueue, type ApprovalRequest } from './approvalQueue.js';

/** The shortest id prefix a person may type; shorter ones match too much by chance. */
export const MIN_REQUEST_PREFIX = 6;

/**
 * Every task's approval queue on this host, as one list for reviewers: `airlock approvals`,
 * `approve` and `deny`, and later the side panel and MCP tools, all read and decide through here.
 */
export class ApprovalBoard {
  constructor(private readonly store: TaskStore) {}

  queue(taskId: string): ApprovalQueue {
    return new ApprovalQueue(this.store.gatewayFiles(taskId).approvalsDir, taskId, this.store.audit(taskId));
  }

  private queues(): ApprovalQueue[] {
    return this.store.ids().map((id) => this.queue(id));
  }

  /** Requests waiting for a person, oldest first; unanswered ones past their time are recorded as denied first. */
  pending(taskId?: string): ApprovalRequest[] {
    const queues = taskId ? [this.queue(taskId)] : this.queues();
    const now = Date.now();
    for (const queue of queues) queue.expire(now);
    return queues.flatMap((queue) => queue.pending(now)).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** The request with this id (or unique prefix of at least six characters), in whichever task holds it. */
  locate(idOrPrefix: string): { queue: ApprovalQueue; request: ApprovalRequest } {
    const wanted = idOrPrefix.trim().toLowerCase();
    if (!/^[a-f0-9]+$/.test(wanted) || wanted.length < MIN_REQUEST_PREFIX || wanted.length > 24) {
      throw new AirlockError(`REQ: "${idOrPrefix}" is not an approval id`, { code: 'request.invalidId', hint: `Give the id (or its first ${MIN_REQUEST_PREFIX}+ characters) as the list of waiting requests shows it.`, field: 'REQ', actions: [{ kind: 'listRequests' }] });
    }
    const found = this.queues().flatMap((queue) => queue.requests().filter((request) => request.id.startsWith(wanted)).map((request) => ({ queue, request })));
    if (found.length === 0) throw new AirlockError(`REQ: no approval request ${idOrPrefix}`, { code: 'request.notFound', hint: 'See the list of waiting requests for their ids.', field: 'REQ', actions: [{ kind: 'listRequests' }] });
    if (found.length > 1) throw new AirlockError(`REQ: "${idOrPrefix}" matches ${found.length} requests`, { code: 'request.ambiguousId', hint: 'Give more characters of the id.', field: 'REQ', actions: [{ kind: 'listRequests' }] });
    return found[0];
  }
}
