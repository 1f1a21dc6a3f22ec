import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { TaskStore } from '../../src/core/state/taskStore.js';
import type { TaskRecord } from '../../src/core/state/taskRecord.js';
import { airlockErrorFrom } from '../helpers/airlockErrorFrom.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

function record(id: string): TaskRecord {
  const now = new Date().toISOString();
  return {
    id,
    createdAt: now,
    expiresAt: now,
    workspace: '/w',
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

/** A state folder holding these tasks' records. */
function storeWith(...ids: string[]): TaskStore {
  const store = new TaskStore(makeTempDir('airlock-taskstore-'));
  for (const id of ids) {
    store.create(id);
    store.save(record(id));
  }
  return store;
}

describe('TaskStore.resolve (unit)', () => {
  after(removeTempDirs);

  test('a full id or a unique prefix names its task', () => {
    const store = storeWith('abc123', 'abd456');
    assert.equal(store.resolve('abc123').id, 'abc123');
    assert.equal(store.resolve('abd').id, 'abd456');
  });

  test('an empty or blank id is refused as empty, never read as a prefix of every task', () => {
    const store = storeWith('abc123', 'abd456', 'xyz789');
    for (const given of ['', ' ', '\t']) {
      const error = airlockErrorFrom(() => store.resolve(given));
      assert.equal(error.code, 'task.emptyId', JSON.stringify(given));
      assert.equal(error.field, 'ID');
      assert.equal(error.message, 'the task id is empty');
      assert.deepEqual(error.actions, [{ kind: 'listTasks' }]);
      assert.doesNotMatch(error.message, /abc123|ambiguous/);
    }
  });

  test('an empty id is refused as empty with no tasks at all, too', () => {
    assert.equal(airlockErrorFrom(() => storeWith().resolve('')).code, 'task.emptyId');
  });

  test('an unknown id, a shared prefix and an unreadable record each have their own code and action', () => {
    const store = storeWith('abc123', 'abd456');
    const unknown = airlockErrorFrom(() => store.resolve('zzz'));
    assert.equal(unknown.code, 'task.notFound');
    assert.deepEqual(unknown.actions, [{ kind: 'listTasks' }]);
    const shared = airlockErrorFrom(() => store.resolve('ab'));
    assert.equal(shared.code, 'task.ambiguousId');
    assert.match(shared.message, /task id "ab" is ambiguous \(abc123, abd456\)/);
    fs.rmSync(path.join(store.taskDir('abd456'), 'task.json'));
    const unreadable = airlockErrorFrom(() => store.resolve('abd'));
    assert.equal(unreadable.code, 'task.unreadableRecord');
    assert.deepEqual(unreadable.actions, [{ kind: 'collectGarbage' }]);
  });

  test('an id that cannot be a task folder name is refused before any path is built', () => {
    const error = airlockErrorFrom(() => storeWith().taskDir('../x'));
    assert.equal(error.code, 'task.invalidId');
    assert.equal(error.field, 'ID');
  });
});
