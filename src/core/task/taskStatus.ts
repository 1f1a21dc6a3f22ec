import type { TaskRecord } from '../state/taskRecord.js';

export type TaskState = 'running' | 'stopped' | 'destroyed';

export interface TaskStatus {
  /** The record as saved, except that a task whose container has gone without anyone recording it shows why in `destroyReason`. */
  record: TaskRecord;
  state: TaskState;
}

/** What the engine says about a task's container, as far as the state needs it. */
export interface ContainerState {
  State?: string;
}

/** Why a task whose container is gone ended, when nobody recorded it: its TTL, or the box's own exit. */
export function unrecordedEnd(record: TaskRecord, now = Date.now()): string {
  return Date.parse(record.expiresAt) <= now ? 'ttl expired' : 'container exited';
}

/**
 * A task's state from its record and its container (undefined when the engine has none), without
 * writing anything: reading the list must be safe for a tree view that refreshes often. Records
 * of vanished containers are written as destroyed by `gc` and by whoever stops the task.
 */
export function taskStatus(record: TaskRecord, container: ContainerState | undefined, now = Date.now()): TaskStatus {
  if (!container) {
    if (record.destroyedAt) return { record, state: 'destroyed' };
    return { record: { ...record, destroyReason: unrecordedEnd(record, now) }, state: 'destroyed' };
  }
  return { record, state: container.State === 'running' ? 'running' : 'stopped' };
}
