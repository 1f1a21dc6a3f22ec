import * as path from 'node:path';
import type { ApprovalRequest } from '../approvals/approvalQueue.js';
import { ChangeSetStore } from '../changes/changeSetStore.js';
import type { TaskStore } from '../state/taskStore.js';
import type { TaskState, TaskStatus } from '../task/taskStatus.js';

/** One task as a list of tasks shows it (a tree view, a status bar): what it is, how long it has, what waits on it. */
export interface TaskOverview {
  id: string;
  workspace: string;
  /** The workspace folder's name, for labels. */
  folder: string;
  state: TaskState;
  image: string;
  runtime: 'runc' | 'runsc';
  network: 'deny' | 'allowlist';
  createdAt: string;
  expiresAt: string;
  endedAt?: string;
  endReason?: string;
  /** The newest change set the host keeps for it: what the last look at the box found (read on first access). */
  lastLook?: { changeSet: string; files: number; at: string };
  pendingApprovals: number;
}

/** Ended tasks a list shows under "Recent", newest first; older ones are for `ls -a` and the records. */
export const RECENT_TASKS = 20;

export function taskOverview(store: TaskStore, status: TaskStatus, pending: readonly ApprovalRequest[]): TaskOverview {
  const { record, state } = status;
  const network = record.options.network === 'allowlist' ? 'allowlist' : 'deny';
  // Read when first asked (a row expanded, a tooltip, a command), not for every task at every
  // rebuild: it is the one part that reads and parses a file per task.
  let look: TaskOverview['lastLook'] | null = null;
  return {
    id: record.id,
    workspace: record.workspace,
    folder: path.basename(record.workspace) || record.workspace,
    state,
    image: record.image,
    runtime: record.runtime,
    network,
    createdAt: record.createdAt,
    expiresAt: record.expiresAt,
    ...(state === 'destroyed' ? { endedAt: record.destroyedAt, endReason: record.destroyReason } : {}),
    get lastLook() {
      if (look === null) look = lastLook(store, record.id);
      return look;
    },
    pendingApprovals: pending.filter((request) => request.task === record.id).length,
  };
}

function lastLook(store: TaskStore, id: string): TaskOverview['lastLook'] {
  const newest = new ChangeSetStore(store.changeFiles(id).changeSetDir).newest();
  return newest && { changeSet: newest.id, files: newest.files, at: newest.createdAt };
}

/**
 * Live tasks (running first, then stopped, each newest first) and the most recent ended ones, so a
 * day's worth of destroyed tasks never crowds the one that runs.
 */
export function liveAndRecent<T extends { state: TaskState; createdAt: string; endedAt?: string }>(tasks: readonly T[], recent = RECENT_TASKS): { live: T[]; recent: T[]; endedTotal: number } {
  const live = tasks.filter((task) => task.state !== 'destroyed').sort((a, b) => (a.state === b.state ? b.createdAt.localeCompare(a.createdAt) : a.state === 'running' ? -1 : 1));
  const ended = tasks.filter((task) => task.state === 'destroyed').sort((a, b) => (b.endedAt ?? b.createdAt).localeCompare(a.endedAt ?? a.createdAt));
  return { live, recent: ended.slice(0, recent), endedTotal: ended.length };
}

/** Milliseconds until the TTL ends a task, 0 once ended: derived at each look, since lists keep overviews between events. */
export function ttlLeft(task: Pick<TaskOverview, 'state' | 'expiresAt'>, now = Date.now()): number {
  return task.state === 'destroyed' ? 0 : Math.max(0, Date.parse(task.expiresAt) - now);
}

/** A duration as people read it in a list: 2h05m, 4m10s, 9s. */
export function shortDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds >= 3600) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${seconds}s`;
}
