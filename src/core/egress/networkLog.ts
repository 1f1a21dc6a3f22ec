import { recordFields as fields, type AuditEntry, type AuditLog } from '../audit/auditLog.js';
import { printableHost } from './hostTarget.js';

const NETWORK_TYPES = new Set(['network', 'network.phase', 'network.limit', 'network.gateway', 'approval.requested', 'approval.decided']);

/**
 * The network part of a task's audit log: attempts, phase switches, limits, gateway and approvals,
 * and how many lines of the log could not be read at all (they are left out, not guessed at).
 */
export function networkRecords(audit: AuditLog): { records: AuditEntry[]; unreadable: number } {
  const { records, unreadable } = audit.readRecords();
  return { records: records.filter((record) => NETWORK_TYPES.has(record.type)), unreadable };
}

const time = (iso: unknown) => (typeof iso === 'string' ? iso.slice(11, 19) : '--:--:--');

/**
 * Any field as printable text. Records are read back loosely (a damaged or older log may hold
 * anything in a field) and their names and reasons were chosen in the box: nothing is printed raw.
 */
function text(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'string') return printableHost(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return printableHost(JSON.stringify(value) ?? '-');
}

/** A count column: absent is zero. */
const count = (value: unknown) => (value === undefined ? '0' : text(value));


/** One table row per record, for people; the JSON output is the contract. */
export function formatNetworkLog(records: AuditEntry[]): string {
  if (records.length === 0) return 'no network activity recorded\n';
  const rows: string[][] = [['TIME', 'PHASE', 'EVENT', 'TARGET', 'ADDRESS', 'UP', 'DOWN', 'MS', 'RULE / REASON']];
  const event = (record: AuditEntry, kind: string, detail: string, phase: unknown = '') => rows.push([time(record.time), phase ? text(phase) : '', kind, '', '', '', '', '', detail]);
  for (const r of records) {
    if (r.type === 'network') {
      const target = `${r.method === 'CONNECT' ? '' : `${text(r.method)} `}${text(r.host)}:${text(r.port)}`;
      const why = [r.rule, r.decision === 'deny' || r.status ? r.reason : undefined].filter(Boolean).map(text).join('; ');
      rows.push([time(r.start ?? r.time), text(r.phase), text(r.decision), target, text(r.address), count(r.bytesUp), count(r.bytesDown), r.durationMs === undefined ? '' : text(r.durationMs), why]);
    } else if (r.type === 'network.phase') event(r, 'phase', `${text(r.from)} → ${text(r.to)}, closed ${text(r.closedConnections)} connection(s)`, r.to);
    else if (r.type === 'network.limit') event(r, 'limit', `${text(r.limit)} (${text(r.value)}) reached${r.target ? ` by ${text(r.target)}` : ''}`);
    else if (r.type === 'network.gateway') event(r, 'gateway', `${text(r.event)} (pid ${text(r.pid)})${r.reason ? `: ${text(r.reason)}` : ''}`);
    else if (r.type === 'approval.requested') {
      const request = fields(r.request);
      event(r, 'ask', `${text(request.id)}: ${text(request.subject)} (${text(request.reason)})`, request.phase);
    } else if (r.type === 'approval.decided') {
      const decision = fields(r.decision);
      event(r, 'answer', `${text(decision.id)}: ${text(decision.decision)} ${text(decision.scope)} by ${text(decision.by)}${decision.reason ? ` (${text(decision.reason)})` : ''}`);
    }
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd()).join('\n') + '\n';
}
