import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { watchFolder, type FolderChange } from '../../src/core/ground/folderWatch.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** Collects changes and resolves `next(match)` when one arrives. */
function recorder() {
  const seen: { change: FolderChange; at: string; initial: boolean }[] = [];
  const waiters: { match: (at: string) => boolean; resolve: () => void }[] = [];
  return {
    seen,
    // A property, not a method: it is handed to watchFolder on its own.
    onChange: (change: FolderChange, parts: string[], initial: boolean) => {
      const at = parts.join('/');
      seen.push({ change, at, initial });
      for (const waiter of waiters.splice(0)) {
        if (waiter.match(at)) waiter.resolve();
        else waiters.push(waiter);
      }
    },
    next(match: (at: string) => boolean): Promise<void> {
      return new Promise((resolve, reject) => {
        if (seen.some((entry) => match(entry.at))) return resolve();
        const timer = setTimeout(() => reject(new Error('no change within 10 s')), 10_000);
        waiters.push({ match, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
  };
}

const onlyTaskFiles = (parts: readonly string[]) => parts.length === 1 || (parts.length === 2 && parts[1] === 'task.json');

describe('watchFolder (unit)', () => {
  test('a root two levels missing is created (0700) and watched', async () => {
    const root = path.join(makeTempDir('airlock-watch-'), 'state', 'tasks');
    const changes = recorder();
    const watch = watchFolder(root, { includes: onlyTaskFiles }, changes.onChange);
    try {
      await watch.ready;
      assert.equal(fs.statSync(root).mode & 0o777, 0o700);
      fs.mkdirSync(path.join(root, 'abcd1234'));
      fs.writeFileSync(path.join(root, 'abcd1234', 'task.json'), '{}');
      await changes.next((at) => at === 'abcd1234/task.json');
      assert.equal(changes.seen.find((entry) => entry.at === 'abcd1234/task.json')?.initial, false);
    } finally {
      await watch.close();
    }
  });

  test('entries already there are reported as initial; excluded folders are not entered', async () => {
    const root = makeTempDir('airlock-watch-');
    fs.mkdirSync(path.join(root, 'abcd1234', 'blobs'), { recursive: true });
    fs.writeFileSync(path.join(root, 'abcd1234', 'task.json'), '{}');
    fs.writeFileSync(path.join(root, 'abcd1234', 'blobs', 'x'), 'x');
    const changes = recorder();
    const watch = watchFolder(root, { includes: onlyTaskFiles }, changes.onChange);
    try {
      await watch.ready;
      assert.deepEqual(changes.seen.map((entry) => [entry.change, entry.at, entry.initial]), [['addDir', 'abcd1234', true], ['add', 'abcd1234/task.json', true]]);
      fs.writeFileSync(path.join(root, 'abcd1234', 'blobs', 'y'), 'y');
      fs.writeFileSync(path.join(root, 'abcd1234', 'task.json.1.tmp'), '{"a":1}');
      fs.renameSync(path.join(root, 'abcd1234', 'task.json.1.tmp'), path.join(root, 'abcd1234', 'task.json'));
      await changes.next((at) => at === 'abcd1234/task.json' && changes.seen.at(-1)?.change === 'change');
      assert.equal(changes.seen.some((entry) => entry.at.includes('blobs') || entry.at.includes('.tmp')), false);
    } finally {
      await watch.close();
    }
  });

  test('polling, when asked for, sees the same changes', async () => {
    const root = makeTempDir('airlock-watch-');
    const changes = recorder();
    const watch = watchFolder(root, { includes: onlyTaskFiles, polling: true, pollIntervalMs: 50 }, changes.onChange);
    try {
      await watch.ready;
      assert.equal(watch.polling, true);
      fs.mkdirSync(path.join(root, 'abcd1234'));
      fs.writeFileSync(path.join(root, 'abcd1234', 'task.json'), '{}');
      await changes.next((at) => at === 'abcd1234/task.json');
    } finally {
      await watch.close();
    }
  });
});
