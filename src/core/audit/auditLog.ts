import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import type { ApprovalDecision, ApprovalRequest } from '../approvals/approvalQueue.js';
import type { BrokerRecord } from '../egress/egressBroker.js';
import type { NetworkPhase } from '../egress/egressRules.js';
import type { Finding } from '../commands/commandClassifier.js';
import type { Decision } from '../commands/commandRules.js';

/**
 * Append-only JSONL per task. Every process that acts on a task (CLI, extension, MCP server) appends
 * here; each record is one write(2) with O_APPEND, so concurrent writers never interleave a line.
 */
export type AuditRecord =
  | { type: 'task.created'; task: string; config: unknown; snapshot: unknown }
  | { type: 'task.destroyed'; task: string; reason: string }
  | { type: 'task.reattached'; task: string; containerId: string; previousContainerId: string; expiresAt: string; reason: string }
  | { type: 'command'; task: string; id: string; argv: string[]; line?: string; cwd: string; env: string[]; tty: boolean; start: string; end: string; exitCode: number; signal?: string; timedOut: boolean; cancelled: boolean; bytesOut: number; bytesErr: number; backend: string; taskEnded?: string }
  | { type: 'warning'; task: string; message: string }
  | { type: 'changes.applied'; task: string; apply?: string; request?: string; changeSet: { id: string; reviewed: boolean; boxNow?: string; files: number; createdAt: string }; written: Array<{ path: string; action: string; sha256?: string; previousSha256?: string }>; refused: Array<{ path: string; reason: string }>; held: Array<{ path: string; reason: string }>; reviewerEdited?: string[] }
  | { type: 'changes.recovered'; task: string; apply?: string; restored: Array<{ path: string; kind: string; sha256?: string }>; leftovers: string[] }
  | { type: 'changes.undone'; task: string; apply: string; restored: Array<{ path: string; kind: string; sha256?: string }> }
  | ({ task: string } & BrokerRecord)
  | { type: 'network.phase'; task: string; from: NetworkPhase | 'start'; to: NetworkPhase; closedConnections: number }
  | { type: 'network.gateway'; task: string; event: 'started' | 'stopped'; pid: number; relayPid?: number; reason?: string }
  | { type: 'approval.requested'; task: string; request: ApprovalRequest }
  | { type: 'approval.decided'; task: string; decision: ApprovalDecision }
  | { type: 'command.gated'; task: string; command: string; cwd: string; decision: Decision; findings: Finding[]; grantedBy?: string }
  | { type: 'policy.tightened'; task: string; digest?: string; rules: unknown }
  | { type: 'policy.invalid'; task: string; error: string }
  | { type: 'file.written'; task: string; path: string; bytes: number; sha256: string; created: boolean; by: string }
  | { type: 'mirror'; task: string; synced: Array<{ path: string; action: string; sha256?: string }>; conflicts: string[]; skipped: Array<{ path: string; reason: string }>; error?: string; ms: number }
  | { type: 'push'; task: string; event: 'committed' | 'pushed' | 'refused' | 'failed'; remote: string; url: string; branch: string; commit: string; files: string[]; request?: string; detail?: string };

/**
 * What every line is, whoever wrote it and whatever version: the fields readers rely on are
 * checked, the rest kept as written for the reader that knows the type.
 */
const auditEntrySchema = z.looseObject({ time: z.string(), type: z.string(), task: z.string().optional() });
export type AuditEntry = z.output<typeof auditEntrySchema>;

export interface AuditReading {
  records: AuditEntry[];
  /** Lines that are not a record: the cut-off end of a write a crash interrupted, or damage. */
  unreadable: number;
}

/** A nested part of a record read back loosely (an approval's request or decision); anything else reads as no fields. */
export const recordFields = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

/** How `append` starts every line; the first record after a cut-off write starts here, mid-line. */
const RECORD_START = '{"time":';

function parseEntry(text: string): AuditEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = auditEntrySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * One line, or, when a writer died mid-append and the next one's record went on the same line,
 * the record that follows the cut-off part.
 */
function parseLine(line: string): { entry?: AuditEntry; unreadable: boolean } {
  const entry = parseEntry(line);
  if (entry) return { entry, unreadable: false };
  for (let at = line.indexOf(RECORD_START, 1); at > 0; at = line.indexOf(RECORD_START, at + 1)) {
    const after = parseEntry(line.slice(at));
    if (after) return { entry: after, unreadable: true };
  }
  return { unreadable: true };
}

export class AuditLog {
  constructor(readonly file: string) {}

  append(record: AuditRecord): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const line = JSON.stringify({ time: new Date().toISOString(), ...record }) + '\n';
    fs.appendFileSync(this.file, line, { mode: 0o600 });
  }

  read(): string {
    try {
      return fs.readFileSync(this.file, 'utf8');
    } catch {
      return '';
    }
  }

  /** Every record that can be read, and how many lines could not: one bad line never hides the rest. */
  readRecords(): AuditReading {
    const records: AuditEntry[] = [];
    let unreadable = 0;
    for (const line of this.read().split('\n')) {
      if (!line) continue;
      const parsed = parseLine(line);
      if (parsed.entry) records.push(parsed.entry);
      if (parsed.unreadable) unreadable++;
    }
    return { records, unreadable };
  }

  records(): AuditEntry[] {
    return this.readRecords().records;
  }
}
