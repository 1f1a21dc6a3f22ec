import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChangeContent } from '../changes/buildChangeSet.js';
import { type FileChange, gitMode } from '../changes/changeSet.js';
import { AirlockError } from '../ground/errors.js';
import { git } from '../ground/runHost.js';

const ZERO = '0'.repeat(40);

export interface CommitInput {
  /** The host repository. */
  root: string;
  /** The commit the task started from; the new commit's only parent. */
  base: string;
  changes: FileChange[];
  content: ChangeContent;
  message: string;
  /** The task whose changes these are, so an error can offer to review them again. */
  task?: string;
  signal?: AbortSignal;
}

/**
 * A commit holding the task's version of each chosen file on top of the commit the task started
 * from, built with git plumbing and a private index: the host's working tree, index and current
 * branch are never touched. Returns the commit id.
 */
export async function commitChanges({ root, base, changes, content, message, task, signal }: CommitInput): Promise<string> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'airlock-push-'));
  const env = { GIT_INDEX_FILE: path.join(scratch, 'index') };
  try {
    await git(root, ['read-tree', base], { env, signal });
    const removals: string[] = [];
    const additions: Array<{ mode: string; file: string; path: string }> = [];
    for (const [index, change] of changes.entries()) {
      if (change.oldPath !== undefined && change.oldPath !== change.path) removals.push(change.oldPath);
      const after = change.after;
      if (!after || after.kind === 'dir') {
        if (!after) removals.push(change.path);
        continue;
      }
      const file = path.join(scratch, `blob-${index}`);
      if (after.kind === 'symlink') fs.writeFileSync(file, after.target ?? '');
      else {
        const bytes = after.sha256 ? content.blob(after.sha256) : undefined;
        if (!bytes) throw new AirlockError(`push: the task's copy of ${change.path} is not on this machine`, { code: 'push.contentMissing', hint: "Review the task's changes again, then push.", field: 'ID', actions: task ? [{ kind: 'reviewChanges', task }] : [] });
        fs.writeFileSync(file, bytes);
      }
      additions.push({ mode: gitMode(after) ?? '100644', file, path: change.path });
    }
    // --no-filters: the bytes are the task's exactly, whatever the host's attributes say.
    const hashes = additions.length ? (await git(root, ['hash-object', '-w', '--no-filters', '--stdin-paths'], { signal, input: additions.map((item) => item.file).join('\n') + '\n' })).stdout.toString().trim().split('\n') : [];
    const lines = [...removals.map((rel) => `0 ${ZERO}\t${rel}`), ...additions.map((item, index) => `${item.mode} ${hashes[index]}\t${item.path}`)];
    if (lines.length) await git(root, ['update-index', '-z', '--index-info'], { env, signal, input: lines.join('\0') + '\0' });
    const tree = (await git(root, ['write-tree'], { env, signal })).stdout.toString().trim();
    const made = await git(root, ['commit-tree', tree, '-p', base, '-F', '-'], { signal, input: message, allowFailure: true });
    if (made.code !== 0) {
      throw new AirlockError(`push: git could not create the commit: ${made.stderr.trim().split('\n').at(-1)}`, {
        code: 'push.commitFailed',
        hint: /identity|tell me who you are/i.test(made.stderr) ? 'Set your name and email for commits: git config --global user.name "…"; git config --global user.email "…".' : undefined,
        field: 'workspace',
      });
    }
    return made.stdout.toString().trim();
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
