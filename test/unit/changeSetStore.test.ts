import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { applyChanges } from '../../src/core/changes/applyChanges.js';
import { ApplyJournal } from '../../src/core/changes/applyJournal.js';
import { releaseReviewState, retainReviewState } from '../../src/core/changes/blobRetention.js';
import { BlobStore, listBlobs, StoreFull } from '../../src/core/changes/blobStore.js';
import { changeSetDigest, identify } from '../../src/core/changes/changeSet.js';
import { ChangeSetStore, MIN_CHANGE_SET_PREFIX } from '../../src/core/changes/changeSetStore.js';
import { AirlockError } from '../../src/core/ground/errors.js';
import { changeSetFor, fakeBase, hostWorkspace, sha256 } from '../helpers/fakeChangeSet.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

describe('change set ids, kept change sets and the blob sweep (unit)', () => {
  after(removeTempDirs);

  test('the id is a digest over paths, actions and content: the same look gives the same id, any byte changes it', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a\n' }, 'b.txt': { content: 'b\n' } });
    const one = changeSetFor(fixture, { 'a.txt': { content: 'A\n' }, 'b.txt': { content: 'b\n' } });
    const again = changeSetFor(fixture, { 'a.txt': { content: 'A\n' }, 'b.txt': { content: 'b\n' } });
    assert.equal(changeSetDigest(one), changeSetDigest(again), 'createdAt, scan timings and risk text are not part of the name');
    assert.equal(changeSetDigest({ ...one, files: [...one.files].reverse() }), changeSetDigest(one), 'order does not matter');
    const otherBytes = changeSetFor(fixture, { 'a.txt': { content: 'A!\n' }, 'b.txt': { content: 'b\n' } });
    assert.notEqual(changeSetDigest(otherBytes), changeSetDigest(one));
    const execBit = changeSetFor(fixture, { 'a.txt': { content: 'A\n', mode: 0o755 }, 'b.txt': { content: 'b\n' } });
    assert.notEqual(changeSetDigest(execBit), changeSetDigest(one), 'a mode change renames the set');
    assert.notEqual(changeSetDigest({ ...one, task: 'othertask' }), changeSetDigest(one), "another task's set never shares an id");
    assert.match(identify(one).id, /^[0-9a-f]{64}$/);
  });

  test('a kept change set loads by a long prefix only, and a tampered file is refused, not applied', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a\n' } });
    const changeSet = identify(changeSetFor(fixture, { 'a.txt': { content: 'A\n' } }));
    const store = new ChangeSetStore(path.join(makeTempDir('airlock-css-'), 'changesets'));
    store.save(changeSet);
    assert.equal(store.load(changeSet.task, changeSet.id.slice(0, MIN_CHANGE_SET_PREFIX)).id, changeSet.id);
    assert.throws(() => store.load(changeSet.task, changeSet.id.slice(0, 8)), (error: unknown) => error instanceof AirlockError && error.code === 'changeSet.invalidId' && error.field === 'changeSet' && /at least 32/.test(error.hint ?? ''));
    const file = path.join(store.dir, `${changeSet.id}.json`);
    const tampered = JSON.parse(fs.readFileSync(file, 'utf8'));
    tampered.files[0].after.sha256 = sha256('evil');
    fs.writeFileSync(file, JSON.stringify(tampered));
    assert.throws(() => store.load(changeSet.task, changeSet.id), /does not match its id; it was not applied/);
  });

  test('the sweep keeps the newest and pinned change sets, the bytes undo needs, and removes the rest', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a\n' } });
    const root = makeTempDir('airlock-sweep-');
    const changeSets = new ChangeSetStore(path.join(root, 'changesets'));
    const journal = new ApplyJournal(path.join(root, 'applies'));
    const blobs = new BlobStore(path.join(root, 'blobs'));
    const sets = ['one', 'two', 'three', 'four'].map((word, index) => {
      const content = `${word}\n`;
      blobs.put(Buffer.from(content));
      const changeSet = identify(changeSetFor(fixture, { 'a.txt': { content } }));
      changeSets.save(changeSet);
      const at = new Date(Date.now() - (10 - index) * 1000);
      fs.utimesSync(path.join(changeSets.dir, `${changeSet.id}.json`), at, at);
      return { changeSet, sha: sha256(content) };
    });
    blobs.put(Buffer.from('orphan\n'));
    const report = retainReviewState({ blobDir: blobs.dir, changeSets, journal, pinned: new Set([sets[0].changeSet.id]), keepRecent: 2, graceMs: 0 });
    assert.deepEqual(report.droppedChangeSets, [sets[1].changeSet.id]);
    assert.deepEqual(new Set(changeSets.ids()), new Set([sets[0].changeSet.id, sets[2].changeSet.id, sets[3].changeSet.id]));
    const left = new Set(listBlobs(blobs.dir).map((blob) => blob.sha256));
    assert.deepEqual(left, new Set([sets[0].sha, sets[2].sha, sets[3].sha]), 'blobs of dropped sets and orphans are gone');
    assert.equal(report.removedBlobs, 2);
  });

  test('after the box is gone only the host bytes an undo restores are kept', () => {
    const fixture = fakeBase({ 'a.txt': { content: 'a\n' } });
    const ws = hostWorkspace(fixture, { 'a.txt': { content: 'host edit that conflicts? no: same as base\n' } });
    fs.writeFileSync(path.join(ws, 'a.txt'), 'a\n');
    const changeSet = identify(changeSetFor(fixture, { 'a.txt': { content: 'from the box\n' } }));
    const report = applyChanges({ root: ws, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal }, {});
    assert.equal(report.written.length, 1);
    const changeSetDir = path.join(fixture.dir, 'changesets');
    new ChangeSetStore(changeSetDir).save(changeSet);
    releaseReviewState({ blobDir: fixture.blobs.dir, changeSetDir, changeSetFile: path.join(fixture.dir, 'changes.json'), blobWorkDir: path.join(fixture.dir, 'blob-work'), reviewFile: path.join(fixture.dir, 'review.json') }, fixture.journal);
    assert.deepEqual(listBlobs(fixture.blobs.dir).map((blob) => blob.sha256), [sha256('a\n')], "only the host's replaced bytes stay");
    assert.equal(fs.existsSync(changeSetDir), false);
  });

  test('a budgeted store refuses bytes past its limit and keeps no partial blob', () => {
    const dir = path.join(makeTempDir('airlock-budget-'), 'blobs');
    const budget = { limit: 10, remaining: 10 };
    const store = new BlobStore(dir, budget);
    store.put(Buffer.from('12345'));
    store.put(Buffer.from('12345')); // already kept: costs nothing
    assert.equal(budget.remaining, 5);
    const writer = store.writer();
    assert.throws(() => writer.write(Buffer.from('1234567')), (error: unknown) => error instanceof StoreFull && error.code === 'changes.storeFull' && error.field === 'maxStoreSize');
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.startsWith('.incoming')), []);
    assert.equal(listBlobs(dir).length, 1);
  });
});
