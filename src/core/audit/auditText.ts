import { printableLine } from '../ground/printable.js';
import { recordFields as fields, type AuditEntry } from './auditLog.js';

const text = (value: unknown): string => {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'string') return printableLine(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return printableLine(JSON.stringify(value) ?? '-');
};
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const argv = (value: unknown) => list(value).map((word) => text(word)).join(' ');

/** What one record says, in a line a person reads; the JSON lines stay the contract. */
function describe(r: AuditEntry): string {
  switch (r.type) {
    case 'task.created':
      return `task created from ${text(fields(r.config).workspace)} (${text(fields(r.snapshot).files)} files copied)`;
    case 'task.destroyed':
      return `task destroyed: ${text(r.reason)}`;
    case 'task.reattached':
      return `task found again after the engine went away: a new container ${text(r.containerId).slice(0, 12)} on its kept workspace (${text(r.reason)})`;
    case 'command': {
      const how = r.timedOut ? 'timed out' : r.cancelled ? 'cancelled' : r.signal ? `killed by ${text(r.signal)}` : `exit ${text(r.exitCode)}`;
      return `ran ${r.line !== undefined ? text(r.line) : argv(r.argv)}  [${how}; in ${text(r.cwd)}; ${text(r.bytesOut)} B out, ${text(r.bytesErr)} B err]`;
    }
    case 'command.gated':
      return `command ${text(r.decision)}: ${text(r.command)}${r.grantedBy ? ` (allowed for the task by ${text(r.grantedBy)})` : ''}`;
    case 'approval.requested': {
      const request = fields(r.request);
      return `asked (${text(request.kind)} ${text(request.id)}): ${text(request.subject)} — ${text(request.reason)}`;
    }
    case 'approval.decided': {
      const decision = fields(r.decision);
      return `${decision.decision === 'allow' ? 'allowed' : 'denied'} ${text(decision.scope)} by ${text(decision.by)} (${text(decision.id)})${decision.reason ? `: ${text(decision.reason)}` : ''}`;
    }
    case 'changes.applied':
      return `applied change set ${text(fields(r.changeSet).id).slice(0, 12)}${r.request ? ` (request ${text(r.request)})` : ''}: ${list(r.written).length} written, ${list(r.held).length} held, ${list(r.refused).length} refused`;
    case 'file.written':
      return `${r.created ? 'created' : 'replaced'} ${text(r.path)} in the box (${text(r.bytes)} B, sha256 ${text(r.sha256).slice(0, 12)}) by ${text(r.by)}`;
    case 'changes.recovered':
      return `an apply cut short${r.apply ? ` (${text(r.apply)})` : ''} was put back: ${list(r.restored).length} path(s) restored, ${list(r.leftovers).length} staged file(s) removed`;
    case 'changes.undone':
      return `undid apply ${text(r.apply)}: ${list(r.restored).length} file(s) restored`;
    case 'mirror':
      return `host edits carried into the box: ${list(r.synced).length} synced, ${list(r.conflicts).length} conflict(s), ${list(r.skipped).length} skipped${r.error ? ` — ${text(r.error)}` : ''}`;
    case 'push':
      return `push ${text(r.event)}: ${text(r.commit).slice(0, 12)} to ${text(r.remote)} ${text(r.branch)} (${list(r.files).length} file(s))${r.detail ? ` — ${text(r.detail)}` : ''}`;
    case 'network':
      return `network ${text(r.decision)}: ${text(r.host)}:${text(r.port)}${r.rule ? ` (${text(r.rule)})` : ''}`;
    case 'network.phase':
      return `network phase ${text(r.from)} → ${text(r.to)}`;
    case 'network.gateway':
      return `gateway ${text(r.event)} (pid ${text(r.pid)})${r.reason ? `: ${text(r.reason)}` : ''}`;
    case 'network.limit':
      return `network limit reached: ${text(r.limit)} (${text(r.value)})`;
    case 'warning':
      return `warning: ${text(r.message)}`;
    case 'policy.tightened':
      return 'policy tightened while running';
    case 'policy.invalid':
      return `policy file invalid; the last good policy stays: ${text(r.error)}`;
    default: {
      const { time: _time, type: _type, task: _task, ...rest } = r;
      return text(rest);
    }
  }
}

/**
 * A task's audit log as a timeline a person can read, one record per line. Everything in a record
 * may have been chosen in the box, so every field goes through printableLine.
 */
export function formatAuditLog(records: readonly AuditEntry[], unreadable = 0): string {
  const lines = records.map((record) => `${text(record.time).replace('T', ' ').slice(0, 19)}  ${text(record.type).padEnd(18)}  ${describe(record)}`);
  if (unreadable) lines.push(`(${unreadable} line(s) could not be read and are left out: a write cut short by a crash, or damage)`);
  return lines.length ? `${lines.join('\n')}\n` : 'nothing recorded yet\n';
}
