import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { applyLockHeld, takeApplyLock } from '../../src/core/changes/applyLock.js';
import { launchNode } from '../helpers/cliProcess.js';
import { makeTempDir, removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

/** A pid no process has: past the kernel's pid_max default, so never reused during the test. */
const DEAD_PID = 4_194_304 + 17;

describe('the per-task apply lock', () => {
  test('one holder at a time: a second taker is told who holds it; released, it can be taken again', () => {
    const dir = makeTempDir('airlock-lock-');
    const lock = takeApplyLock(dir, 'abcdef012345');
    assert.equal(applyLockHeld(dir), true);
    assert.throws(() => takeApplyLock(dir, 'abcdef012345'), (error: Error & { code?: string }) => error.code === 'apply.busy' && error.message.includes(`process ${process.pid}`));
    lock.release();
    lock.release();
    assert.equal(applyLockHeld(dir), false);
    takeApplyLock(dir, 'abcdef012345').release();
  });

  test("a killed holder's lock is broken by the next taker, once, across processes", async () => {
    const dir = makeTempDir('airlock-lock-dead-');
    fs.writeFileSync(path.join(dir, 'apply.lock'), `${DEAD_PID}\n`);
    assert.equal(applyLockHeld(dir), false, 'a dead holder holds nothing');
    const script = `const { takeApplyLock } = require(${JSON.stringify(path.resolve('src/core/changes/applyLock.ts'))}); try { takeApplyLock(${JSON.stringify(dir)}, 'abcdef012345'); process.stdout.write('took'); setTimeout(() => undefined, 1500); } catch (error) { process.stdout.write(error.code); }`;
    const results = await Promise.all(Array.from({ length: 4 }, () => launchNode(['--import', 'tsx', '-e', script], { timeoutMs: 30_000 }).result));
    assert.deepEqual(results.map((result) => result.stdout).sort(), ['apply.busy', 'apply.busy', 'apply.busy', 'took'], JSON.stringify(results.map((result) => result.stderr)));
    assert.deepEqual(fs.readdirSync(dir).filter((name) => name.includes('dead')), [], 'nothing left aside');
  });
});
