import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { applyChanges, checkAgainstHost, type ApplyContext, type ApplyReport, type ApplySelection } from '../../src/core/changes/applyChanges.js';
import type { ChangeSet } from '../../src/core/changes/changeSet.js';
import { reviewPins, ReviewStateStore, type ReviewState } from '../../src/core/changes/reviewState.js';
import { changeSetFor, fakeBase, type Fixture, hostWorkspace, sha256, snapshotHost, type Tree } from '../helpers/fakeChangeSet.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** `count` lines "line 1".."line N", with `changes` (1-based line → replacement) applied. */
const lines = (count: number, changes: Record<number, string> = {}) => Array.from({ length: count }, (_, index) => `${changes[index + 1] ?? `line ${index + 1}`}\n`).join('');

const written = (report: ApplyReport) => report.written.map((entry) => `${entry.action} ${entry.path}`).sort();
const refusals = (report: Pick<ApplyReport, 'refused'>) => report.refused.map((note) => `${note.path}: ${note.reason}`);

interface Scenario {
  fixture: Fixture;
  changeSet: ChangeSet;
  root: string;
  context: ApplyContext;
  /** Puts the reviewer's bytes in the task's blob store, as a review's save does; returns their sha256. */
  keep(bytes: string | Buffer): string;
  apply(selection?: ApplySelection): ApplyReport;
}

function scenario(base: Tree, now: Tree, editHost?: (root: string) => void): Scenario {
  const fixture = fakeBase(base);
  const changeSet = changeSetFor(fixture, now);
  const root = hostWorkspace(fixture);
  editHost?.(root);
  const context: ApplyContext = { root, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal };
  return { fixture, changeSet, root, context, keep: (bytes) => fixture.blobs.put(Buffer.from(bytes)), apply: (selection) => applyChanges(context, selection) };
}

describe("applyChanges with the reviewer's bytes (selection.content)", () => {
  const base: Tree = { 'f.txt': { content: lines(10) }, 'other.txt': { content: 'other\n' } };
  const box: Tree = { 'f.txt': { content: lines(10, { 3: 'box 3' }) }, 'other.txt': { content: 'other box\n' } };

  test("writes the reviewer's blob in place of the box's, byte for byte; other files are the box's", () => {
    const s = scenario(base, box);
    const mine = Buffer.concat([Buffer.from(lines(10, { 3: 'reviewer 3', 9: 'reviewer 9' })), Buffer.from([0xff, 0])]);
    const sha = s.keep(mine);
    const report = s.apply({ content: { 'f.txt': sha } });
    assert.deepEqual(report.refused, []);
    assert.deepEqual(written(report), ['write f.txt', 'write other.txt']);
    assert.deepEqual(
      report.written.find((entry) => entry.path === 'f.txt'),
      { path: 'f.txt', action: 'write', sha256: sha, previousSha256: sha256(lines(10)) },
    );
    assert.deepEqual(fs.readFileSync(path.join(s.root, 'f.txt')), mine);
    assert.equal(fs.readFileSync(path.join(s.root, 'other.txt'), 'utf8'), 'other box\n');
    assert.equal(s.fixture.journal.all().length, 1);
  });

  test('a new file the task adds takes the reviewer\'s bytes too', () => {
    const s = scenario({}, { 'new/added.txt': { content: 'box\n' } });
    const sha = s.keep('reviewer\n');
    const report = s.apply({ paths: ['new/added.txt'], content: { 'new/added.txt': sha } });
    assert.deepEqual(written(report), ['mkdir new', 'write new/added.txt']);
    assert.equal(fs.readFileSync(path.join(s.root, 'new/added.txt'), 'utf8'), 'reviewer\n');
  });

  test("the host's own edit elsewhere is merged with the reviewer's bytes", () => {
    const s = scenario(base, box, (root) => fs.writeFileSync(path.join(root, 'f.txt'), lines(10, { 1: 'host 1' })));
    const sha = s.keep(lines(10, { 8: 'reviewer 8' }));
    const report = s.apply({ paths: ['f.txt'], content: { 'f.txt': sha } });
    assert.deepEqual(written(report), ['merge f.txt']);
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), lines(10, { 1: 'host 1', 8: 'reviewer 8' }), 'the box line 3 is not there: the reviewer dropped it');
  });

  test('refused together with hunks for the same path; nothing is written and no undo record is left', () => {
    const s = scenario(base, box);
    const before = snapshotHost(s.root);
    const sha = s.keep(lines(10, { 3: 'reviewer 3' }));
    const report = s.apply({ paths: ['f.txt'], hunks: { 'f.txt': [1] }, content: { 'f.txt': sha } });
    assert.deepEqual(refusals(report), ['f.txt: hunks and reviewed content cannot both be chosen for one file']);
    assert.equal(report.refused[0].code, undefined, 'a refusal, not a conflict with the host');
    assert.deepEqual(report.written, []);
    assert.equal(report.id, undefined);
    assert.deepEqual(snapshotHost(s.root), before);
    assert.deepEqual(s.fixture.journal.all(), []);
  });

  test('refused when the blob is not in the store; the file keeps its host bytes', () => {
    const s = scenario(base, box);
    const report = s.apply({ content: { 'f.txt': sha256('bytes nobody stored\n') } });
    assert.deepEqual(refusals(report), ['f.txt: the reviewed content is no longer on this machine']);
    assert.deepEqual(written(report), ['write other.txt'], 'the rest of the selection still applies');
    assert.equal(fs.readFileSync(path.join(s.root, 'f.txt'), 'utf8'), lines(10));
  });

  test('refused for a file the task deletes: the host file stays', () => {
    const s = scenario({ 'gone.txt': { content: 'bye\n' } }, {});
    assert.equal(s.changeSet.files[0].status, 'deleted');
    const sha = s.keep('resurrected\n');
    const report = s.apply({ paths: ['gone.txt'], content: { 'gone.txt': sha } });
    assert.deepEqual(refusals(report), ['gone.txt: reviewed content can only replace a file the task leaves']);
    assert.deepEqual(report.written, []);
    assert.equal(fs.readFileSync(path.join(s.root, 'gone.txt'), 'utf8'), 'bye\n');
    assert.deepEqual(s.fixture.journal.all(), []);
  });

  test('refused for a path that is no change of this task', () => {
    const s = scenario(base, box);
    const report = s.apply({ paths: ['f.txt'], content: { 'nope.txt': s.keep('x\n') } });
    assert.deepEqual(refusals(report), ['nope.txt: no such change in this task']);
    assert.deepEqual(written(report), ['write f.txt']);
  });
});

describe('checkAgainstHost: planning only', () => {
  const base: Tree = { 'conflict.txt': { content: lines(10) }, 'merge.txt': { content: lines(10) }, 'plain.txt': { content: 'plain\n' }, 'same.txt': { content: 'same\n' } };
  const box: Tree = {
    'conflict.txt': { content: lines(10, { 5: 'box 5' }) },
    'merge.txt': { content: lines(10, { 9: 'box 9' }) },
    'plain.txt': { content: 'plain box\n' },
    'same.txt': { content: 'same box\n' },
  };
  const editHost = (root: string) => {
    fs.writeFileSync(path.join(root, 'conflict.txt'), lines(10, { 5: 'host 5' }));
    fs.writeFileSync(path.join(root, 'merge.txt'), lines(10, { 1: 'host 1' }));
    fs.writeFileSync(path.join(root, 'same.txt'), 'same box\n');
  };

  test("reports the host's conflicting edit with code 'conflict' and writes nothing: no host change, no undo record, no temp files", () => {
    const s = scenario(base, box, editHost);
    const before = snapshotHost(s.root);
    const check = checkAgainstHost(s.context, {});
    assert.deepEqual(
      check.refused.map((note) => [note.path, note.code]),
      [['conflict.txt', 'conflict']],
    );
    assert.match(check.refused[0].reason, /^conflict: changed on the host since the task started \(1 conflicting region\)/);
    assert.deepEqual([...check.planned].sort(), ['merge.txt', 'plain.txt']);
    assert.deepEqual(check.unchanged, ['same.txt']);
    assert.deepEqual(check.held, []);
    assert.deepEqual(snapshotHost(s.root), before);
    assert.deepEqual(s.fixture.journal.all(), []);
    assert.equal(fs.existsSync(s.fixture.journal.dir), false, 'the journal folder is never even made');
  });

  test('agrees with the apply that follows it', () => {
    const s = scenario(base, box, editHost);
    const check = checkAgainstHost(s.context, {});
    const report = s.apply({});
    assert.deepEqual(report.refused, check.refused);
    assert.deepEqual(report.unchanged, check.unchanged);
    assert.deepEqual(report.written.map((entry) => entry.path).sort(), [...check.planned].sort());
  });

  test("a task edit of a file the host deleted is a conflict; a refusal of the selection itself carries no code", () => {
    const s = scenario(base, box, (root) => fs.rmSync(path.join(root, 'plain.txt')));
    const sha = s.keep('reviewer\n');
    const check = checkAgainstHost(s.context, { paths: ['plain.txt', 'merge.txt'], hunks: { 'merge.txt': [1] }, content: { 'merge.txt': sha } });
    assert.deepEqual(
      check.refused.map((note) => [note.path, note.code ?? null]).sort(),
      [
        ['merge.txt', null],
        ['plain.txt', 'conflict'],
      ],
    );
    assert.deepEqual(check.planned, []);
  });

  test("plans the reviewer's bytes, not the box's: bytes that settle on the host's version are no conflict", () => {
    const s = scenario(base, box, editHost);
    const resolved = s.keep(lines(10, { 5: 'host 5' }));
    const check = checkAgainstHost(s.context, { paths: ['conflict.txt'], content: { 'conflict.txt': resolved } });
    assert.deepEqual(check.refused, []);
    assert.deepEqual(check.unchanged, ['conflict.txt'], "the reviewer's bytes are already the host's");
  });
});

describe('saved review state and what it keeps from the sweep', () => {
  const shaA = sha256('a');
  const shaB = sha256('b');
  const state: ReviewState = { version: 1, task: 'task1', changeSet: sha256('set'), startedAt: '2026-01-01T00:00:00.000Z', files: { 'a.txt': { edited: shaA, choice: 'accept' }, 'b.txt': { choice: 'reject' }, 'c.txt': { edited: shaB, applied: 'x' } } };

  test('pins its change set and every edited blob', () => {
    const file = path.join(makeTempDir('airlock-review-state-'), 'review.json');
    assert.deepEqual(reviewPins(file, 'task1'), { changeSets: [], blobs: [] }, 'no review, nothing pinned');
    new ReviewStateStore(file).save(state);
    assert.deepEqual(new ReviewStateStore(file).load('task1'), state);
    assert.deepEqual(reviewPins(file, 'task1'), { changeSets: [state.changeSet], blobs: [shaA, shaB] });
    new ReviewStateStore(file).clear();
    assert.deepEqual(reviewPins(file, 'task1'), { changeSets: [], blobs: [] });
  });

  test("a file that does not parse, or names another task, is no review: its choices are not trusted", () => {
    const file = path.join(makeTempDir('airlock-review-state-'), 'review.json');
    const store = new ReviewStateStore(file);
    store.save(state);
    assert.equal(store.load('task2'), undefined);
    for (const bad of ['{not json', JSON.stringify({ ...state, version: 2 }), JSON.stringify({ ...state, files: { 'a.txt': { edited: 'not-a-sha' } } })]) {
      fs.writeFileSync(file, bad);
      assert.equal(store.load('task1'), undefined, bad);
      assert.deepEqual(reviewPins(file, 'task1'), { changeSets: [], blobs: [] });
    }
  });
});
