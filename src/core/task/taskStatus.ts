import type { TaskRecord } from '../state/taskRecord.js';
import { WHOLE_COPY_LOST, workspaceCanSurvive } from './engineRestart.js';

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

/** What the host knows about the task besides its record. */
export interface HostFacts {
  /** Airlock saw the task's engine go away while the task was live (engineRestart.ts). */
  engineLost?: boolean;
}

/**
 * A task's state from its record and its container (undefined when the engine has none), without
 * writing anything: reading the list must be safe for a tree view that refreshes often. Records
 * of vanished containers are written as destroyed by `gc` and by whoever stops the task.
 *
 * A container gone after its engine went away is not an end while the task's workspace can have
 * outlived it: the task is `stopped`, and its next use re-attaches it (or records it lost).
 */
export function taskStatus(record: TaskRecord, container: ContainerState | undefined, now = Date.now(), facts: HostFacts = {}): TaskStatus {
  if (!container) {
    if (record.destroyedAt) return { record, state: 'destroyed' };
    if (facts.engineLost && Date.parse(record.expiresAt) > now) {
      return workspaceCanSurvive(record) ? { record, state: 'stopped' } : { record: { ...record, destroyReason: WHOLE_COPY_LOST }, state: 'destroyed' };
    }
    return { record: { ...record, destroyReason: unrecordedEnd(record, now) }, state: 'destroyed' };
  }
  return { record, state: container.State === 'running' ? 'running' : 'stopped' };
}
