import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import { folderNames } from '../ground/folderNames.js';
import { type HostWorkOptions, type UndoContext, undoLastApplyAsync } from './applyChanges.js';

/** What settling an interrupted apply did: the paths it put back, and the staged files it removed. */
export interface SettledApply {
  /** The undo record of the apply that never finished, when there was one. */
  apply?: string;
  restored: string[];
  leftovers: string[];
}

/** The temp files a transaction stages in the workspace root before its commit point (see hostTransaction). */
const STAGED = /^\.airlock-[0-9a-f]{12}-\d+$/;

/** Whether a transaction's staged files lie in the workspace root (cheap: one folder listing). */
export function hasStagedLeftovers(root: string): boolean {
  return folderNames(root).some((name) => STAGED.test(name));
}

function removeStaged(root: string): string[] {
  const removed: string[] = [];
  for (const name of folderNames(root)) {
    if (!STAGED.test(name)) continue;
    const file = path.join(root, name);
    try {
      if (!fs.lstatSync(file).isFile()) continue;
      fs.rmSync(file, { force: true });
      removed.push(name);
    } catch {
      // gone meanwhile
    }
  }
  return removed;
}

/**
 * An apply whose process was killed part-way (the CLI, the extension host, the MCP server) leaves
 * its undo record `pending` and perhaps staged temp files in the workspace. The caller holds the
 * task's apply lock, so no apply is running: the paths it had already moved are put back from the
 * record (never half-applied), and its staged files are removed. A path the host edited since the
 * crash is never overwritten: that is an error naming it, and nothing changes.
 */
export async function settleInterruptedApply(context: UndoContext, task: string, options: HostWorkOptions = {}): Promise<SettledApply | undefined> {
  // Staged copies are never host content, whatever is decided about the rest: they go first.
  const leftovers = fs.existsSync(context.root) ? removeStaged(fs.realpathSync(context.root)) : [];
  const last = context.journal.last();
  const interrupted = last?.status === 'pending';
  let restored: string[] = [];
  if (interrupted) {
    try {
      restored = (await undoLastApplyAsync(context, options)).restored;
    } catch (error) {
      if (!(error instanceof AirlockError) || error.code !== 'undo.hostEdited') throw error;
      throw new AirlockError(`task ${task}: an earlier apply (${last.id}) was interrupted part-way, and putting it back would lose host edits made since (${error.message.replace(/^undo would lose host edits made after the apply: /, '')}); nothing was changed`, {
        code: 'apply.interrupted',
        hint: 'Look at those files; undo can put the interrupted apply back anyway, discarding the edits.',
        field: 'ID',
        actions: [{ kind: 'undoApply', task, overwriteHostEdits: true }],
      });
    }
  }
  if (!interrupted && !leftovers.length) return undefined;
  return { ...(interrupted ? { apply: last.id } : {}), restored, leftovers };
}
