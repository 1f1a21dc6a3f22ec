import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * The change set is the one description of "what the agent did to the workspace" that every front
 * end shows and that apply consumes. It holds metadata and content hashes only; the bytes live in
 * the base snapshot (before) and the task's blob store (after), addressed by sha256, so what a
 * reviewer saw is exactly what gets written.
 */
export const nodeKindSchema = z.enum(['file', 'dir', 'symlink', 'other']);
export type NodeKind = z.infer<typeof nodeKindSchema>;

export const nodeStateSchema = z.object({
  kind: nodeKindSchema,
  /** Mode bits as found, including setuid/setgid/sticky (which are reported, never applied). */
  mode: z.number().int().min(0),
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  /** A symlink's target, verbatim. */
  target: z.string().optional(),
});
export type NodeState = z.infer<typeof nodeStateSchema>;

export const changeStatusSchema = z.enum(['added', 'modified', 'deleted', 'renamed', 'typechange']);
export type ChangeStatus = z.infer<typeof changeStatusSchema>;

export const fileChangeSchema = z.object({
  path: z.string(),
  status: changeStatusSchema,
  /** For renames: where the content was in the base snapshot. */
  oldPath: z.string().optional(),
  before: nodeStateSchema.optional(),
  after: nodeStateSchema.optional(),
  binary: z.boolean(),
  /** Number of unified-diff hunks (text files only), addressable 1..hunks when applying. */
  hunks: z.number().int().min(0),
  /** Why this change needs an explicit per-file choice; empty when a blanket yes may take it. */
  risk: z.array(z.string()),
  /** Things a reviewer should know that do not block (e.g. a setuid bit that will be stripped). */
  notes: z.array(z.string()),
  /** Set when this change can never be applied (a device, a path under .git/, over the size limit…). */
  refusal: z.string().optional(),
});
export type FileChange = z.infer<typeof fileChangeSchema>;

export const changeSetSchema = z.object({
  version: z.literal(1),
  /**
   * The change set's name: a digest over its paths, actions and content hashes (changeSetDigest).
   * A review names this; an apply that names it writes exactly these bytes, whatever the box does since.
   */
  id: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  task: z.string(),
  createdAt: z.string(),
  files: z.array(fileChangeSchema),
  scan: z.object({
    /** `scanner`: compared inside the container; `archive`: whole tree streamed out (images without node). */
    method: z.enum(['scanner', 'archive']),
    /** Entries the scan looked at, and how many it had to hash or report. */
    entries: z.number(),
    reported: z.number(),
    ms: z.number(),
  }),
});
export type ChangeSet = z.infer<typeof changeSetSchema>;

/** Git-style mode strings ("100644", "100755", "120000", "040000") for people and JSON output. */
export function gitMode(state: NodeState | undefined): string | undefined {
  if (!state) return undefined;
  if (state.kind === 'symlink') return '120000';
  if (state.kind === 'dir') return '040000';
  if (state.kind === 'other') return (state.mode & 0o7777).toString(8).padStart(6, '0');
  return state.mode & 0o111 ? '100755' : '100644';
}

/** What `airlock diff --json` prints for one file: the contract shape, nothing internal. */
export function summarizeChange(change: FileChange): Record<string, unknown> {
  const oldMode = gitMode(change.before);
  const newMode = gitMode(change.after);
  return {
    path: change.path,
    status: change.status,
    ...(change.oldPath !== undefined ? { oldPath: change.oldPath } : {}),
    binary: change.binary,
    ...(oldMode ? { oldMode } : {}),
    ...(newMode ? { newMode } : {}),
    ...(change.after?.kind === 'symlink' ? { symlinkTarget: change.after.target } : {}),
    ...(change.before?.size !== undefined ? { oldSize: change.before.size } : {}),
    ...(change.before?.sha256 ? { oldSha256: change.before.sha256 } : {}),
    ...(change.after?.sha256 ? { newSha256: change.after.sha256 } : {}),
    ...(change.after?.size !== undefined ? { newSize: change.after.size } : {}),
    risk: change.risk,
    hunks: change.hunks,
    ...(change.notes.length ? { notes: change.notes } : {}),
    ...(change.refusal ? { refusal: change.refusal } : {}),
  };
}

/** A change set that carries its name, as every front end receives it from ChangeService. */
export type IdentifiedChangeSet = ChangeSet & { id: string };

const stateKey = (state: NodeState | undefined) => (state ? [state.kind, state.mode & 0o7777, state.size, state.sha256 ?? null, state.target ?? null] : null);

/** What one change is, as the change set's name counts it: two changes with the same identity are the same change. */
export const changeIdentity = (change: FileChange) => [change.path, change.status, change.oldPath ?? null, stateKey(change.before), stateKey(change.after), change.refusal ?? null];

/**
 * The digest that names a change set: task, and per path (sorted) the action, both sides' kind,
 * mode, size, content hash and link target, and any refusal. Risk sentences and notes are derived
 * from these and left out, so a newer risk list does not rename an unchanged review.
 */
export function changeSetDigest(changeSet: Pick<ChangeSet, 'task' | 'files'>): string {
  const files = [...changeSet.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const canonical = JSON.stringify([1, changeSet.task, files.map(changeIdentity)]);
  return createHash('sha256').update(canonical).digest('hex');
}

export function identify(changeSet: ChangeSet): IdentifiedChangeSet {
  return { ...changeSet, id: changeSetDigest(changeSet) };
}

/**
 * How ids are shown to people. The box can compute the id of any change set it could produce, so
 * it could search for two sets sharing a shown prefix (a birthday search): 128 bits put that out of
 * reach, 64 would not.
 */
export const shortChangeSetId = (id: string) => id.slice(0, 32);
