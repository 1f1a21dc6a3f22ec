import type * as Core from '../../core/index.js';
import type { TaskOverview } from '../../core/index.js';

/** One line under a task in the Tasks view (and in its tooltip). */
export interface DetailRow {
  key: 'state' | 'image' | 'runtime' | 'network' | 'ttl' | 'changes' | 'approvals' | 'workspace';
  label: string;
  value: string;
  icon: string;
  tooltip?: string;
}

type Formatting = Pick<typeof Core, 'shortDuration' | 'ttlLeft'>;

export const runtimeLabel = (runtime: TaskOverview['runtime']) => (runtime === 'runsc' ? 'gVisor (runsc)' : 'runc');

/** The network mode, with the gateway's phase for an allowlist task when it answered. */
export function networkLabel(task: TaskOverview, phase: string | undefined): string {
  if (task.network === 'deny') return 'offline (no network)';
  return phase ? `allowlist, ${phase}` : 'allowlist';
}

// One formatter, made on first use: each toLocaleTimeString builds its own (about 0.2 ms), and the
// first one loads the locale data (20–40 ms), which a tree's first render should not wait for.
let hoursAndMinutes: Intl.DateTimeFormat | undefined;
const clock = (iso: string | undefined) => (iso ? (hoursAndMinutes ??= new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' })).format(new Date(iso)) : '?');

/** The short line beside a task's name: state, runtime, network, TTL left, what waits on it. */
export function taskDescription(core: Formatting, task: TaskOverview, phase: string | undefined): string {
  if (task.state === 'destroyed') return `ended ${clock(task.endedAt)}${task.endReason ? ` (${task.endReason})` : ''}`;
  const parts = [task.state, task.runtime === 'runsc' ? 'gVisor' : 'runc', task.network === 'deny' ? 'offline' : phase ? `allowlist · ${phase}` : 'allowlist', `${core.shortDuration(core.ttlLeft(task))} left`];
  if (task.pendingApprovals) parts.push(`${task.pendingApprovals} waiting`);
  return parts.join(' · ');
}

export function taskDetails(core: Formatting, task: TaskOverview, phase: string | undefined): DetailRow[] {
  const ended = task.state === 'destroyed';
  const rows: DetailRow[] = [
    { key: 'state', label: 'State', value: ended ? `ended at ${clock(task.endedAt)}${task.endReason ? `: ${task.endReason}` : ''}` : `${task.state} since ${clock(task.createdAt)}`, icon: ended ? 'circle-slash' : task.state === 'running' ? 'pass' : 'debug-pause' },
    { key: 'image', label: 'Image', value: task.image, icon: 'package' },
    { key: 'runtime', label: 'Runtime', value: runtimeLabel(task.runtime), icon: 'shield' },
    { key: 'network', label: 'Network', value: networkLabel(task, phase), icon: task.network === 'deny' ? 'debug-disconnect' : 'globe' },
  ];
  if (!ended) rows.push({ key: 'ttl', label: 'TTL left', value: `${core.shortDuration(core.ttlLeft(task))} (until ${clock(task.expiresAt)})`, icon: 'watch' });
  rows.push({
    key: 'changes',
    label: 'Changes',
    value: task.lastLook ? `${task.lastLook.files} file${task.lastLook.files === 1 ? '' : 's'} at the last look (${clock(task.lastLook.at)})` : 'not looked at yet',
    icon: 'diff',
    tooltip: ended ? undefined : 'Click to look at the box again and count its changed files.',
  });
  if (!ended) rows.push({ key: 'approvals', label: 'Approvals', value: task.pendingApprovals ? `${task.pendingApprovals} waiting for a reviewer` : 'none waiting', icon: task.pendingApprovals ? 'bell-dot' : 'bell' });
  rows.push({ key: 'workspace', label: 'Copied from', value: task.workspace, icon: 'folder' });
  return rows;
}
