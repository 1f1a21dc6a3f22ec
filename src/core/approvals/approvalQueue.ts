import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { AuditLog } from '../audit/auditLog.js';
import { writeSynced } from '../ground/syncedWrite.js';
import { currentUser } from '../ground/currentUser.js';
import { folderNames } from '../ground/folderNames.js';

/** What can be gated: a new network destination, a command, a push from the host, an apply to the host. */
export const APPROVAL_KINDS = ['network', 'command', 'push', 'apply'] as const;
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

export const approvalRequestSchema = z.object({
  id: z.string().regex(/^[a-f0-9]{24}$/),
  task: z.string(),
  kind: z.enum(APPROVAL_KINDS),
  /** What is asked for: a destination ("api.example.com:443"), a command line, a push. */
  subject: z.string(),
  /** Why it was gated: the rule or the classifier's reason. */
  reason: z.string(),
  phase: z.string().optional(),
  /** Working folder inside the task, for commands. */
  cwd: z.string().optional(),
  /** What a reviewer needs to decide, per kind: for a push the remote URL, branch, commit and files. */
  details: z.record(z.string(), z.unknown()).optional(),
  /** Who asked: the account and process that filed it, or the box itself for a network destination. */
  requestedBy: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.string(),
});
export type ApprovalRequest = z.infer<typeof approvalRequestSchema>;

export const approvalDecisionSchema = z.object({
  id: z.string(),
  decision: z.enum(['allow', 'deny']),
  scope: z.enum(['once', 'task']),
  by: z.string(),
  at: z.string(),
  reason: z.string().optional(),
});
export type ApprovalDecision = z.infer<typeof approvalDecisionSchema>;

const POLL_MS = 150;
/** The reason Airlock records when a request runs out of time. */
const EXPIRED = 'no decision before the timeout';

/** How a decision attempt went: recorded, or too late because someone (or the clock) got there first. */
export type DecideOutcome = 'decided' | 'already-decided' | 'expired';

/** The reviewer-facing input for a new request. */
export type ApprovalInput = Pick<ApprovalRequest, 'kind' | 'subject' | 'reason'> & Partial<Pick<ApprovalRequest, 'phase' | 'cwd' | 'details' | 'requestedBy'>>;

/** How a refusal reads for whoever asked: the reviewer and their reason, or why Airlock refused. */
export function describeRefusal(decision: ApprovalDecision): string {
  if (decision.by === 'airlock') return decision.reason ?? 'no decision';
  return `denied by ${decision.by}${decision.reason ? `: ${decision.reason}` : ''}`;
}

/**
 * A task's approval requests, shared by every process on this host (CLI, gateway, extension, MCP
 * server) through files: a request is written whole (temp file, then rename) and a decision is
 * linked into place only if none exists, so when two people decide at once exactly one decision
 * stands and the other is told it came too late.
 */
export class ApprovalQueue {
  /** `usedDir` holds the marks of allow-onces that were used: beside the queue's folder, which holds requests and decisions only. */
  constructor(private readonly dir: string, private readonly task: string, private readonly audit: AuditLog, private readonly usedDir = path.join(dir, '..', 'approvals-used')) {}

  private file(id: string, part: 'request' | 'decision'): string {
    if (!/^[a-f0-9]{24}$/.test(id)) throw new Error(`approval id "${id}" is not valid`);
    return path.join(this.dir, `${id}.${part}.json`);
  }

  request(input: ApprovalInput, timeoutMs: number): ApprovalRequest {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    const request: ApprovalRequest = { id: randomBytes(12).toString('hex'), task: this.task, requestedBy: `${currentUser()} (process ${process.pid})`, ...input, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + timeoutMs).toISOString() };
    const target = this.file(request.id, 'request');
    const temp = `${target}.${process.pid}.tmp`;
    fs.writeFileSync(temp, JSON.stringify(request), { mode: 0o600 });
    fs.renameSync(temp, target);
    this.audit.append({ type: 'approval.requested', task: this.task, request });
    return request;
  }

  decision(id: string): ApprovalDecision | undefined {
    try {
      return approvalDecisionSchema.parse(JSON.parse(fs.readFileSync(this.file(id, 'decision'), 'utf8')));
    } catch {
      return undefined;
    }
  }

  /** Every request on file (decided, expired or pending), oldest first. */
  requests(): ApprovalRequest[] {
    return folderNames(this.dir)
      .filter((name) => name.endsWith('.request.json'))
      .flatMap((name) => {
        try {
          return [approvalRequestSchema.parse(JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8')))];
        } catch {
          // a request is renamed into place whole; anything unreadable is not one of ours
          return [];
        }
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  find(id: string): ApprovalRequest | undefined {
    try {
      return approvalRequestSchema.parse(JSON.parse(fs.readFileSync(this.file(id, 'request'), 'utf8')));
    } catch {
      return undefined;
    }
  }

  /** Requests still waiting for a person, oldest first. */
  pending(now = Date.now()): ApprovalRequest[] {
    return this.requests().filter((request) => Date.parse(request.expiresAt) > now && !this.decision(request.id));
  }

  /**
   * Turns requests nobody answered in time into "deny" decisions, so the record shows how each one
   * ended even when the process that asked has gone.
   */
  expire(now = Date.now()): number {
    let expired = 0;
    for (const request of this.requests()) {
      if (Date.parse(request.expiresAt) <= now && !this.decision(request.id) && this.record(request.id, { decision: 'deny', scope: 'once', by: 'airlock', reason: EXPIRED })) expired++;
    }
    return expired;
  }

  /** Records a person's decision, unless someone else decided first or the request has expired. */
  decide(id: string, decision: Omit<ApprovalDecision, 'id' | 'at'>): DecideOutcome {
    const existing = this.decision(id);
    if (existing) return existing.by === 'airlock' && existing.reason === EXPIRED ? 'expired' : 'already-decided';
    const request = this.find(id);
    if (request && Date.parse(request.expiresAt) <= Date.now()) {
      // Record how it ended; if someone else just did, their record stands and it is still too late.
      this.record(id, { decision: 'deny', scope: 'once', by: 'airlock', reason: EXPIRED });
      return 'expired';
    }
    return this.record(id, decision) ? 'decided' : 'already-decided';
  }

  /**
   * Marks an allow-once as used, created exclusively: of two callers naming the same approval
   * (two runs of one command, a requester and a reviewer both writing one apply) exactly one acts.
   */
  use(id: string): boolean {
    if (!/^[a-f0-9]{24}$/.test(id)) throw new Error(`approval id "${id}" is not valid`);
    fs.mkdirSync(this.usedDir, { recursive: true, mode: 0o700 });
    try {
      fs.writeFileSync(path.join(this.usedDir, id), `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  /** Takes back a use whose action failed before it did anything, so the allow can be used again. */
  unuse(id: string): void {
    if (/^[a-f0-9]{24}$/.test(id)) fs.rmSync(path.join(this.usedDir, id), { force: true });
  }

  /** Whether an allow-once has been used. */
  used(id: string): boolean {
    return /^[a-f0-9]{24}$/.test(id) && fs.existsSync(path.join(this.usedDir, id));
  }

  /** An allow "for the rest of the task" of exactly this kind and subject (and folder, when given). */
  grantedForTask(kind: ApprovalKind, subject: string, cwd?: string): ApprovalDecision | undefined {
    for (const request of this.requests()) {
      if (request.kind !== kind || request.subject !== subject || (cwd !== undefined && request.cwd !== cwd)) continue;
      const decided = this.decision(request.id);
      if (decided?.decision === 'allow' && decided.scope === 'task') return decided;
    }
    return undefined;
  }

  /**
   * Writes the decision whole to a temporary file, then links it into place: link(2) fails if the
   * name exists, so exactly one writer wins, and readers never see a half-written decision.
   */
  private record(id: string, decision: Omit<ApprovalDecision, 'id' | 'at'>): boolean {
    const record: ApprovalDecision = { id, ...decision, at: new Date().toISOString() };
    const target = this.file(id, 'decision');
    const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeSynced(temp, JSON.stringify(record), 'wx');
    try {
      fs.linkSync(temp, target);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      fs.rmSync(temp, { force: true });
    }
    this.audit.append({ type: 'approval.decided', task: this.task, decision: record });
    return true;
  }

  /** Waits for the decision; past the deadline (or on abort) records "deny" itself, unless someone decided first. */
  async wait(request: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalDecision> {
    const deadline = Date.parse(request.expiresAt);
    const decided = await this.decisionBy(request.id, deadline, signal);
    if (decided) return decided;
    this.record(request.id, { decision: 'deny', scope: 'once', by: 'airlock', reason: signal?.aborted && Date.now() < deadline ? 'the requester went away' : EXPIRED });
    return this.decision(request.id)!;
  }

  /**
   * The decision as soon as its file appears (a watch of the approvals folder: a decider in
   * another process wakes the waiter at once), or undefined at the deadline or on abort. Reads
   * every POLL_MS only where the folder cannot be watched (the OS is out of watches).
   */
  private decisionBy(id: string, deadline: number, signal?: AbortSignal): Promise<ApprovalDecision | undefined> {
    return new Promise((resolve) => {
      let watcher: fs.FSWatcher | undefined;
      let poller: NodeJS.Timeout | undefined;
      let settled = false;
      const finish = (decision: ApprovalDecision | undefined) => {
        if (settled) return;
        settled = true;
        watcher?.close();
        clearInterval(poller);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(decision);
      };
      const check = () => {
        const decision = this.decision(id);
        if (decision) finish(decision);
      };
      const poll = () => {
        watcher?.close();
        watcher = undefined;
        poller ??= setInterval(check, POLL_MS);
      };
      const onAbort = () => finish(undefined);
      // A decision recorded right at the deadline still counts: the last look is at the deadline itself.
      const timer = setTimeout(() => finish(this.decision(id)), Math.min(2 ** 31 - 1, Math.max(0, deadline - Date.now())));
      if (signal?.aborted) return finish(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      try {
        watcher = fs.watch(this.dir, check);
        watcher.on('error', poll);
      } catch {
        poll();
      }
      // After the watch is in place, so a decision written in between is not missed.
      check();
    });
  }
}
