import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { identify } from '../../src/core/changes/changeSet.js';
import { ChangeSetStore } from '../../src/core/changes/changeSetStore.js';
import { TaskStore } from '../../src/core/state/taskStore.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import { taskOverview } from '../../src/core/usecases/taskOverview.js';
import { changeSetFor, fakeBase } from '../helpers/fakeChangeSet.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

function record(id: string): TaskRecord {
  const now = new Date();
  return {
    id,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
    workspace: '/home/dev/shop',
    image: 'img',
    runtime: 'runc',
    containerId: `c-${id}`,
    containerName: `airlock-${id}`,
    user: '1000:1000',
    env: {},
    options: {},
    snapshot: { kind: 'folder', files: 0, bytes: 0, excluded: [], manifestFile: '/m', archiveFile: '/a' },
  };
}

function storeWith(id: string): TaskStore {
  const store = new TaskStore(makeTempDir('airlock-overview-'));
  store.create(id);
  store.save(record(id));
  return store;
}

function saveChangeSet(store: TaskStore, id: string, content: string): string {
  const changeSet = identify(changeSetFor(fakeBase({ 'a.txt': { content: 'a\n' } }), { 'a.txt': { content } }));
  new ChangeSetStore(store.changeFiles(id).changeSetDir).save(changeSet);
  return changeSet.id;
}

describe('a task as the lists show it (unit)', () => {
  after(removeTempDirs);

  test('the last look is read when first asked for, not when the overview is built, and then kept', () => {
    const store = storeWith('a1b2c3d4e5f6');
    const overview = taskOverview(store, { record: store.load('a1b2c3d4e5f6')!, state: 'running' }, []);
    // Saved after the overview was built: a list that read it at build time would not see it.
    const first = saveChangeSet(store, 'a1b2c3d4e5f6', 'A\n');
    assert.equal(overview.lastLook?.changeSet, first);
    assert.equal(overview.lastLook?.files, 1);
    saveChangeSet(store, 'a1b2c3d4e5f6', 'AA\n');
    assert.equal(overview.lastLook?.changeSet, first, 'one overview answers the same each time it is asked');
    const rebuilt = taskOverview(store, { record: store.load('a1b2c3d4e5f6')!, state: 'running' }, []);
    assert.notEqual(rebuilt.lastLook?.changeSet, first, 'the next rebuild reads the newest');
  });

  test('a task nobody looked at has no last look, and its other fields are there at once', () => {
    const store = storeWith('0f0f0f0f0f0f');
    const overview = taskOverview(store, { record: store.load('0f0f0f0f0f0f')!, state: 'running' }, [{ id: 'f'.repeat(24), task: '0f0f0f0f0f0f', kind: 'command', subject: 'git push', reason: 'gated', createdAt: '', expiresAt: '', requestedBy: 'dev' }]);
    assert.equal(overview.lastLook, undefined);
    assert.deepEqual([overview.folder, overview.network, overview.pendingApprovals], ['shop', 'deny', 1]);
    assert.ok('lastLook' in { ...overview }, 'a copy of the overview carries the last look as a plain value');
  });
});
