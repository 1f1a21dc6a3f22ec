import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { watchFiles } from '../../src/core/ground/filesWatch.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** Paths reported, and a wait for one of them. */
function recorder() {
  const seen: string[] = [];
  const waiters: { rel: string; resolve: () => void }[] = [];
  return {
    seen,
    onChange: (rel: string) => {
      seen.push(rel);
      for (const waiter of waiters.splice(0)) {
        if (waiter.rel === rel) waiter.resolve();
        else waiters.push(waiter);
      }
    },
    next(rel: string): Promise<void> {
      return new Promise((resolve, reject) => {
        if (seen.includes(rel)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no change to ${rel} within 10 s (saw ${seen.join(', ') || 'nothing'})`)), 10_000);
        waiters.push({ rel, resolve: () => { clearTimeout(timer); resolve(); } });
      });
    },
  };
}

function tree(): string {
  const root = makeTempDir('airlock-files-watch-');
  fs.mkdirSync(path.join(root, 'src/deep'), { recursive: true });
  fs.writeFileSync(path.join(root, 'src/alpha.txt'), 'alpha\n');
  fs.writeFileSync(path.join(root, 'src/beta.txt'), 'beta\n');
  fs.writeFileSync(path.join(root, 'src/deep/gamma.txt'), 'gamma\n');
  return root;
}

describe('watchFiles (unit)', () => {
  test('a write, a removal and a save by rename of a watched file are reported by relative path; other files are not', async () => {
    const root = tree();
    const changes = recorder();
    const watch = watchFiles(root, ['src/alpha.txt', 'src/deep/gamma.txt'], changes.onChange);
    try {
      await watch.ready;
      fs.writeFileSync(path.join(root, 'src/beta.txt'), 'beta, not watched\n');
      fs.writeFileSync(path.join(root, 'src/alpha.txt'), 'alpha, edited\n');
      await changes.next('src/alpha.txt');
      fs.rmSync(path.join(root, 'src/deep/gamma.txt'));
      await changes.next('src/deep/gamma.txt');
      changes.seen.length = 0;
      fs.writeFileSync(path.join(root, 'src/alpha.txt.tmp'), 'alpha, saved by rename\n');
      fs.renameSync(path.join(root, 'src/alpha.txt.tmp'), path.join(root, 'src/alpha.txt'));
      await changes.next('src/alpha.txt');
      assert.equal(changes.seen.includes('src/beta.txt'), false, 'an unwatched file in the same folder is not reported');
      assert.equal(changes.seen.includes('src/alpha.txt.tmp'), false);
    } finally {
      await watch.close();
    }
  });

  test('a file missing at the start is reported when it appears; files added later are watched', async () => {
    const root = tree();
    const changes = recorder();
    const watch = watchFiles(root, ['src/new.txt'], changes.onChange);
    try {
      await watch.ready;
      fs.writeFileSync(path.join(root, 'src/new.txt'), 'new\n');
      await changes.next('src/new.txt');
      watch.add(['src/beta.txt', 'src/new.txt']);
      // `add` takes effect once chokidar has the new paths; a write after that is seen.
      await new Promise((resolve) => setTimeout(resolve, 300));
      fs.writeFileSync(path.join(root, 'src/beta.txt'), 'beta, edited\n');
      await changes.next('src/beta.txt');
    } finally {
      await watch.close();
    }
  });

  test('a file whose folders the host has not made yet is reported once they and it appear', async () => {
    const root = tree();
    const changes = recorder();
    const watch = watchFiles(root, ['new/deeper/file.txt'], changes.onChange);
    try {
      await watch.ready;
      fs.mkdirSync(path.join(root, 'new/deeper'), { recursive: true });
      // The folders' watches are set up as they are seen; a write after that is reported.
      await new Promise((resolve) => setTimeout(resolve, 500));
      fs.writeFileSync(path.join(root, 'new/deeper/file.txt'), 'made on the host\n');
      await changes.next('new/deeper/file.txt');
    } finally {
      await watch.close();
    }
  });

  test('after close nothing is reported', async () => {
    const root = tree();
    const changes = recorder();
    const watch = watchFiles(root, ['src/alpha.txt'], changes.onChange);
    await watch.ready;
    await watch.close();
    fs.writeFileSync(path.join(root, 'src/alpha.txt'), 'alpha, after close\n');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(changes.seen, []);
  });
});
