import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import type { AuditLog } from '../audit/auditLog.js';

export const approvalRequestSchema = z.object({
  id: z.string().regex(/^[a-f0-9]{24}$/),
  task: z.string(),
  kind: z.enum(['network']),
  /** What is asked for, e.g. "api.example.com:443". */
  subject: z.string(),
  /** Why it was gated. */
  reason: z.string(),
  phase: z.string().optional(),
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

export function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/**
 * A task's approval requests, shared by every process on this host through files: a request is
 * written whole (temp file, then rename) and a decision is created with O_EXCL, so when two people
 * decide at once exactly one decision stands and the other is told it came too late.
 */
export class ApprovalQueue {
  constructor(private readonly dir: string, private readonly task: string, private readonly audit: AuditLog) {}

  private file(id: string, part: 'request' | 'decision'): string {
    if (!/^[a-f0-9]{24}$/.test(id)) throw new Error(`approval id "${id}" is not valid`);
    return path.join(this.dir, `${id}.${part}.json`);
  }

  request(input: Pick<ApprovalRequest, 'kind' | 'subject' | 'reason' | 'phase'>, timeoutMs: number): ApprovalRequest {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const now = Date.now();
    const request: ApprovalRequest = { id: randomBytes(12).toString('hex'), task: this.task, ...input, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + timeoutMs).toISOString() };
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

  /** Requests still waiting for a person, oldest first. */
  pending(now = Date.now()): ApprovalRequest[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    return names
      .filter((name) => name.endsWith('.request.json'))
      .flatMap((name) => {
        try {
          const request = approvalRequestSchema.parse(JSON.parse(fs.readFileSync(path.join(this.dir, name), 'utf8')));
          return Date.parse(request.expiresAt) > now && !this.decision(request.id) ? [request] : [];
        } catch {
          return [];
        }
      })
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /** Records a decision; false when the request was already decided (or expired) by someone else. */
  decide(id: string, decision: Omit<ApprovalDecision, 'id' | 'at'>): boolean {
    const record: ApprovalDecision = { id, ...decision, at: new Date().toISOString() };
    let fd: number;
    try {
      fd = fs.openSync(this.file(id, 'decision'), 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
    try {
      fs.writeSync(fd, JSON.stringify(record));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.audit.append({ type: 'approval.decided', task: this.task, decision: record });
    return true;
  }

  /** Waits for the decision; past the deadline (or on abort) records "deny" itself, unless someone decided first. */
  async wait(request: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalDecision> {
    const deadline = Date.parse(request.expiresAt);
    while (!signal?.aborted && Date.now() < deadline) {
      const decided = this.decision(request.id);
      if (decided) return decided;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    this.decide(request.id, { decision: 'deny', scope: 'once', by: 'airlock', reason: signal?.aborted && Date.now() < deadline ? 'the connection went away' : 'no decision before the timeout' });
    return this.decision(request.id)!;
  }
}
