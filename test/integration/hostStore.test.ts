import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { listBlobs, StoreFull } from '../../src/core/changes/blobStore.js';
import { KEEP_RECENT_CHANGE_SETS } from '../../src/core/changes/blobRetention.js';
import type { TaskChanges } from '../../src/core/changes/changeService.js';
import { startTask } from '../helpers/changeFixtures.js';
import { makeTempDir, removeTempDirs, writeFiles } from '../helpers/tempWorkspace.js';

const MiB = 1024 * 1024;
const storedBytes = (dir: string) => listBlobs(dir).reduce((sum, blob) => sum + blob.size, 0);

/** Issue 13 §6: a task cannot fill the host's state disk through the blob store. */
describe("the task's host store is bounded (integration)", () => {
  after(removeTempDirs);

  test('rewriting two large files between diffs does not grow the state folder past what kept change sets need, and stop leaves only undo data', async (t) => {
    const ws = makeTempDir('airlock-store-rewrite-');
    writeFiles(ws, { 'small.txt': 'small\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const { blobDir, changeSetDir } = task.service.store.changeFiles(task.id);
    const rounds = KEEP_RECENT_CHANGE_SETS + 3;
    for (let round = 0; round < rounds; round++) {
      await task.sh('head -c 20M /dev/urandom > a.bin && head -c 20M /dev/urandom > b.bin');
      const look: TaskChanges = await task.changes.changes(task.id);
      assert.equal(look.changeSet.files.length, 2);
    }
    // Each round stored 40 MB; only the newest KEEP_RECENT sets may still be named, so only their bytes stay.
    const kept = storedBytes(blobDir);
    assert.ok(kept <= KEEP_RECENT_CHANGE_SETS * 40 * MiB + MiB, `the store holds ${Math.round(kept / MiB)} MB after ${rounds} rewrites of 40 MB`);
    assert.ok(kept >= (KEEP_RECENT_CHANGE_SETS - 1) * 40 * MiB, 'the newest change sets keep their content');
    assert.equal(fs.readdirSync(changeSetDir).filter((name) => name.endsWith('.json')).length, KEEP_RECENT_CHANGE_SETS);

    // An apply keeps the host's replaced bytes for undo; stop keeps exactly those and nothing the box sent.
    fs.writeFileSync(path.join(ws, 'small.txt'), 'host edit\n');
    await task.sh("printf 'from the box\\n' > small.txt");
    const { report } = await task.changes.apply(task.id, { paths: ['small.txt'] }, { maxFileBytes: 30 * MiB });
    assert.ok(report.refused.length === 1 || report.written.length === 1);
    await task.service.stop(task.id);
    const left = listBlobs(blobDir);
    assert.ok(storedBytes(blobDir) < MiB, `after stop the store holds ${storedBytes(blobDir)} bytes`);
    assert.equal(fs.existsSync(changeSetDir), false, 'no change set outlives its box');
    for (const blob of left) assert.ok(blob.size < MiB);
  });

  test('a diff that would store more than the cap fails with a message naming --max-store-size and keeps the store under the cap', async (t) => {
    const ws = makeTempDir('airlock-store-cap-');
    writeFiles(ws, { 'x.txt': 'x\n' });
    const task = await startTask(t, ws);
    if (!task) return;
    const { blobDir } = task.service.store.changeFiles(task.id);
    await task.sh('for i in 1 2 3 4 5; do head -c 10M /dev/urandom > big$i.bin; done');
    const limit = 25 * MiB;
    await assert.rejects(task.changes.changes(task.id, { maxStoreBytes: limit }), (error: unknown) => {
      assert.ok(error instanceof StoreFull, String(error));
      assert.match(error.message, /more than the 25 MB Airlock keeps per task on the host; the diff was not taken/);
      assert.equal(error.code, 'changes.storeFull');
      assert.equal(error.field, 'maxStoreSize');
      return true;
    });
    assert.ok(storedBytes(blobDir) <= limit, `the store holds ${storedBytes(blobDir)} bytes, over the ${limit} cap`);
    // With room, the same diff works, and the partial bytes of the failed one are not kept twice.
    const { changeSet } = await task.changes.changes(task.id, { maxStoreBytes: 200 * MiB });
    assert.equal(changeSet.files.length, 5);
    assert.ok(storedBytes(blobDir) <= 51 * MiB);
  });
});
