import { z } from 'zod';

export const TASK_LABEL = 'airlock.task';
export const EXPIRES_LABEL = 'airlock.expires';

export const snapshotSummarySchema = z.object({
  kind: z.enum(['git', 'folder']),
  /** Commit the workspace's HEAD pointed at, when it is a git repository: what a push builds on. */
  head: z.string().optional(),
  /** HEAD inside the box: the same id unless a commit in its history lost a secret path. */
  sandboxHead: z.string().optional(),
  branch: z.string().optional(),
  shallow: z.boolean().optional(),
  files: z.number(),
  bytes: z.number(),
  /** Workspace-relative paths left out because they look like secrets. */
  excluded: z.array(z.string()),
  /** Paths removed from some commit of the box's history because they look like secrets. */
  historyExcluded: z.array(z.string()).optional(),
  /** Files in the base snapshot (path → sha256, size, mode, link target); see baseSnapshot.ts. */
  manifestFile: z.string(),
  /** The exact tar stream the container received, so later diffs have every base byte. */
  archiveFile: z.string(),
  /**
   * Engine-clock time by which the copy was complete (ms since the epoch, sub-ms precision). Any
   * later change to a workspace entry gives it a ctime at or after this; see src/sandbox/scanner.ts.
   */
  readyAtMs: z.number().optional(),
  /** The workspace base a layered task stands on (an engine volume); absent for a whole private copy. */
  baseVolume: z.string().optional(),
});
export type SnapshotSummary = z.infer<typeof snapshotSummarySchema>;

/** What the host remembers about a task; the engine's labels say whether it is still alive. */
export const taskRecordSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  workspace: z.string(),
  image: z.string(),
  runtime: z.enum(['runc', 'runsc']),
  containerId: z.string(),
  containerName: z.string(),
  user: z.string(),
  env: z.record(z.string(), z.string()),
  options: z.record(z.string(), z.unknown()),
  snapshot: snapshotSummarySchema,
  destroyedAt: z.string().optional(),
  destroyReason: z.string().optional(),
});
export type TaskRecord = z.infer<typeof taskRecordSchema>;
