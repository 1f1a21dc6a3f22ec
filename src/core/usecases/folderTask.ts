import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import { WORKSPACE_PATH } from '../ground/sandboxPaths.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskService } from '../task/taskService.js';

/** A live task seen from a host folder: the folder's place inside the box, and back. */
export interface FolderTask {
  record: TaskRecord;
  /** The host folder's path inside the box (`/workspace/...`), or `/workspace` when it lies outside the task's workspace. */
  boxCwd: string;
  /** Whether the host folder is the task's workspace or inside it. */
  inside: boolean;
}

/** The real path when there is one: a workspace opened through a symlink is still the same workspace. */
function real(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** `rel` of `child` under `root`, or undefined when it is not inside. */
function within(root: string, child: string): string | undefined {
  const rel = path.relative(root, child);
  if (rel === '') return '';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel;
}

/** The box path for a host path under the task's workspace, or undefined outside it. */
export function boxPathFor(record: TaskRecord, hostPath: string): string | undefined {
  const rel = within(real(record.workspace), real(hostPath)) ?? within(path.resolve(record.workspace), path.resolve(hostPath));
  if (rel === undefined) return undefined;
  return rel === '' ? WORKSPACE_PATH : path.posix.join(WORKSPACE_PATH, ...rel.split(path.sep));
}

/** The host path for a box path under /workspace, or undefined for anywhere else in the box. */
export function hostPathFor(record: TaskRecord, boxPath: string): string | undefined {
  const normal = path.posix.normalize(boxPath);
  if (normal !== WORKSPACE_PATH && !normal.startsWith(`${WORKSPACE_PATH}/`)) return undefined;
  const rel = normal.slice(WORKSPACE_PATH.length + 1);
  return rel ? path.join(record.workspace, ...rel.split('/')) : record.workspace;
}

/**
 * The task a command from `hostDir` runs in: the one named, or else the newest live task whose
 * workspace holds `hostDir` (the deepest workspace first, so a task for a subfolder wins).
 */
export async function taskForFolder(service: TaskService, hostDir: string, idOrPrefix?: string): Promise<FolderTask> {
  if (idOrPrefix) {
    const record = await service.live(idOrPrefix);
    const boxCwd = boxPathFor(record, hostDir);
    return { record, boxCwd: boxCwd ?? WORKSPACE_PATH, inside: boxCwd !== undefined };
  }
  const here = real(hostDir);
  const now = Date.now();
  const candidates = service.store
    .all()
    .filter((record) => !record.destroyedAt && Date.parse(record.expiresAt) > now && within(real(record.workspace), here) !== undefined)
    .sort((a, b) => real(b.workspace).length - real(a.workspace).length || b.createdAt.localeCompare(a.createdAt));
  for (const candidate of candidates) {
    try {
      const record = await service.live(candidate.id);
      return { record, boxCwd: boxPathFor(record, here) ?? WORKSPACE_PATH, inside: true };
    } catch {
      // ended meanwhile: the next one
    }
  }
  throw new AirlockError(`no live task has a workspace holding ${hostDir}`, {
    code: 'task.noneForFolder',
    hint: 'Start a task for this folder first, or name the task.',
    field: 'ID',
    actions: [{ kind: 'startTask' }],
  });
}
