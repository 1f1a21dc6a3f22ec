import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { listBlobs } from '../../src/core/changes/blobStore.js';
import { startTask } from '../helpers/changeFixtures.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

/**
 * Issue 13 §9: folders moved onto each other's paths keep every path and every ctime of the base,
 * so only folder identity tells them apart. The diff must be exact, as the archive scan is.
 */
describe('the change scanner sees folders swapped onto each other (integration)', () => {
  after(removeTempDirs);

  for (const runtime of ['runc', 'runsc'] as const) {
    test(`mv a t; mv b a; mv t b shows both files as changed, as the archive scan does (${runtime})`, async (t) => {
      const ws = makeTempDir('airlock-swap-');
      writeFiles(ws, { 'a/f': 'AAAA\n', 'b/f': 'BBBB\n', 'a/deep/g': 'deep a\n', 'b/deep/g': 'deep b\n', 'c/f': 'CCCC\n' });
      const task = await startTask(t, ws, { runtime });
      if (!task) return;
      await task.sh('mv a t && mv b a && mv t b');
      const scanned = await task.changes.changes(task.id, { method: 'scanner' });
      assert.equal(scanned.changeSet.scan.method, 'scanner');
      assert.ok(task.service.store.folderInodes(task.id)?.has('a/deep'), 'start recorded each folder');
      // Only what is under the moved folders was hashed: c/f is proven untouched by its ctime.
      assert.equal(scanned.changeSet.scan.reported, 4, `reported ${scanned.changeSet.scan.reported} entries`);
      // Every file under the moved folders still exists in the base under another path: nothing new crossed.
      assert.deepEqual(listBlobs(task.service.store.changeFiles(task.id).blobDir).map((blob) => blob.size).sort(), [5, 5, 7, 7]);
      const summary = (changes: typeof scanned) => changes.changeSet.files.map((change) => `${change.status} ${change.path} ${change.after?.sha256?.slice(0, 8)}`).sort();
      assert.deepEqual(scanned.changeSet.files.map((change) => `${change.status} ${change.path}`).sort(), ['modified a/deep/g', 'modified a/f', 'modified b/deep/g', 'modified b/f']);
      const archived = await task.changes.changes(task.id, { method: 'archive' });
      assert.deepEqual(summary(scanned), summary(archived), 'the scanner and the archive scan agree');
      assert.equal(scanned.changeSet.id, archived.changeSet.id, 'the same change set, so the same id');

      // Swapping back leaves nothing to apply, and nothing extra kept on the host for it.
      await task.sh('mv a t && mv b a && mv t b');
      const back = await task.changes.changes(task.id, { method: 'scanner' });
      assert.deepEqual(back.changeSet.files, []);
    });
  }
});
