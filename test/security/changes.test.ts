import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, afterEach, before, type TestContext } from 'node:test';
import { ApplyJournal } from '../../src/core/changes/applyJournal.js';
import type { FileChange } from '../../src/core/changes/changeSet.js';
import type { TaskChanges } from '../../src/core/changes/changeService.js';
import { hostTree, q, startTask, statusLines } from '../helpers/changeFixtures.js';
import { run } from '../helpers/realEngine.js';
import { initRepo, makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';
import { BASE_FILES, CHANGE_CASES, type ChangesContext, OUTSIDE_FILES } from './cases/changes.js';
import { registerCases } from './securityCase.js';

/**
 * The returned-changes cases share one task on a git repository (a task start is most of a case's
 * time on this machine). After each case the host is undone to its first state and the box is put
 * back to the base, and both are checked, so every case starts from BASE_FILES.
 */

let context: ChangesContext | undefined;
const teardowns: Array<() => unknown> = [];
let original: { tree: Record<string, string>; git: Record<string, string>; outside: Record<string, string> } | undefined;

/** startTask's teardowns belong to this file's `after`, not to one case. */
const fileScope = {
  after: (fn: () => unknown) => teardowns.push(fn),
  skip: (message?: string) => console.log(`# skipped: ${message ?? ''}`),
} as unknown as TestContext;

/** Every file under the host's .git, by mode and hash: nothing of the box may reach it. */
function gitTree(workspace: string): Record<string, string> {
  return hostTree(path.join(workspace, '.git'));
}

before(async () => {
  const workspace = makeTempDir('airlock-sec-changes-');
  initRepo(workspace, { ...BASE_FILES });
  const outside = makeTempDir('airlock-sec-outside-');
  writeFiles(outside, { ...OUTSIDE_FILES });
  const task = await startTask(fileScope, workspace, { ttlSeconds: 1800 });
  if (!task) return;
  original = { tree: hostTree(workspace), git: gitTree(workspace), outside: hostTree(outside) };
  context = { task, outside, box: (script) => run(task.service, task.id, ['sh', '-c', script]) };
});

after(async () => {
  for (const teardown of teardowns.reverse()) await teardown();
  removeTempDirs();
});

/** Undoes every apply a case made, puts the box back to the base, and checks both. */
afterEach(async () => {
  if (!context || !original) return;
  const { task } = context;
  const journal = new ApplyJournal(task.service.store.changeFiles(task.id).journalDir);
  // Forced: a case may have changed the host after its apply (a swap put back, an edit).
  while (journal.last()) await task.changes.undo(task.id, { force: true });
  const changes = await task.changes.changes(task.id);
  const script = restoreScript(changes);
  if (script) await task.sh(script);
  assert.deepEqual(statusLines((await task.changes.changes(task.id)).changeSet), [], 'the box is back at the base');
  assert.deepEqual(hostTree(task.workspace), original.tree, 'the host workspace is as it was');
  assert.deepEqual(gitTree(task.workspace), original.git, "the host's .git is as it was");
  assert.deepEqual(hostTree(context.outside), original.outside, 'the folder beside the workspace is as it was');
});

/**
 * One shell line that turns the box's workspace back into the base: what the box added goes, and
 * every base path it changed or removed gets the base's bytes, mode, folder or link again.
 */
function restoreScript({ changeSet, content }: TaskChanges): string {
  const atBase = (rel: string) => content.base.entries.get(rel);
  const lines: string[] = [];
  const removed = new Set<string>();
  const remove = (rel: string) => {
    if ([...removed].some((gone) => rel === gone || rel.startsWith(`${gone}/`))) return;
    removed.add(rel);
    lines.push(`rm -rf -- ${q(rel)}`);
  };
  // A new path goes with the outermost new folder above it (new folders are implied, not listed),
  // short of .git itself: the box's repository stays, without what the box wrote into it.
  const outermostNew = (rel: string) => {
    let top = rel;
    for (let cut = rel.lastIndexOf('/'); cut > 0 && !atBase(rel.slice(0, cut)) && rel.slice(0, cut) !== '.git'; cut = rel.lastIndexOf('/', cut - 1)) top = rel.slice(0, cut);
    return top;
  };
  const restores = new Map<string, FileChange>();
  for (const change of changeSet.files) {
    // The box's .git is Airlock's own and not in the base: a file the box wrote there can only go.
    if (!atBase(change.path)) remove(outermostNew(change.path));
    else if (change.status === 'typechange') remove(change.path);
    for (const rel of [change.path, change.oldPath]) if (rel !== undefined && atBase(rel)) restores.set(rel, change);
  }
  const depth = (rel: string) => rel.split('/').length;
  for (const rel of [...restores.keys()].sort((a, b) => depth(a) - depth(b))) {
    const entry = atBase(rel)!;
    const dir = path.posix.dirname(rel);
    const parent = dir === '.' ? '' : `mkdir -p ${q(dir)} && `;
    if (entry.type === 'dir') lines.push(`mkdir -p ${q(rel)} && chmod ${(entry.mode & 0o777).toString(8)} ${q(rel)}`);
    else if (entry.type === 'symlink') lines.push(`${parent}rm -rf -- ${q(rel)} && ln -s ${q(entry.target ?? '')} ${q(rel)}`);
    else {
      const bytes = content.base.bytes(rel) ?? Buffer.alloc(0);
      lines.push(`${parent}rm -rf -- ${q(rel)} && printf %s ${q(bytes.toString('base64'))} | base64 -d > ${q(rel)} && chmod ${(entry.mode & 0o777).toString(8)} ${q(rel)}`);
    }
  }
  return lines.join(' && ');
}

registerCases(CHANGE_CASES, () => context);
