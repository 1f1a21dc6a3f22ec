import type { AuditLog } from '../audit/auditLog.js';
import { printableHost } from './hostTarget.js';

type AuditEntry = ReturnType<AuditLog['records']>[number];

const NETWORK_TYPES = new Set(['network', 'network.phase', 'network.limit', 'network.gateway', 'approval.requested', 'approval.decided']);

/** The network part of a task's audit log: attempts, phase switches, limits, gateway and approvals. */
export function networkRecords(audit: AuditLog): AuditEntry[] {
  return audit.records().filter((record) => NETWORK_TYPES.has(record.type));
}

const time = (iso: unknown) => (typeof iso === 'string' ? iso.slice(11, 19) : '--:--:--');
const text = (value: unknown) => printableHost(String(value ?? '-'));

/** One table row per record, for people; the JSON output is the contract. */
export function formatNetworkLog(records: AuditEntry[]): string {
  if (records.length === 0) return 'no network activity recorded\n';
  const rows: string[][] = [['TIME', 'PHASE', 'EVENT', 'TARGET', 'ADDRESS', 'UP', 'DOWN', 'MS', 'RULE / REASON']];
  const event = (record: AuditEntry, kind: string, detail: string, phase: unknown = '') => rows.push([time(record.time), phase ? text(phase) : '', kind, '', '', '', '', '', detail]);
  for (const record of records) {
    const r = record as Record<string, unknown>;
    if (record.type === 'network') {
      const target = `${r.method === 'CONNECT' ? '' : `${text(r.method)} `}${text(r.host)}:${r.port}`;
      const why = [r.rule, r.decision === 'deny' || r.status ? r.reason : undefined].filter(Boolean).map(text).join('; ');
      rows.push([time(r.start ?? record.time), text(r.phase), text(r.decision), target, text(r.address), String(r.bytesUp ?? 0), String(r.bytesDown ?? 0), String(r.durationMs ?? ''), why]);
    } else if (record.type === 'network.phase') event(record, 'phase', `${text(r.from)} → ${text(r.to)}, closed ${r.closedConnections} connection(s)`, r.to);
    else if (record.type === 'network.limit') event(record, 'limit', `${text(r.limit)} (${text(r.value)}) reached${r.target ? ` by ${text(r.target)}` : ''}`);
    else if (record.type === 'network.gateway') event(record, 'gateway', `${text(r.event)} (pid ${r.pid})${r.reason ? `: ${text(r.reason)}` : ''}`);
    else if (record.type === 'approval.requested') {
      const request = r.request as Record<string, unknown>;
      event(record, 'ask', `${text(request.id)}: ${text(request.subject)} (${text(request.reason)})`, request.phase);
    } else if (record.type === 'approval.decided') {
      const decision = r.decision as Record<string, unknown>;
      event(record, 'answer', `${text(decision.id)}: ${text(decision.decision)} ${text(decision.scope)} by ${text(decision.by)}${decision.reason ? ` (${text(decision.reason)})` : ''}`);
    }
  }
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ').trimEnd()).join('\n') + '\n';
}
