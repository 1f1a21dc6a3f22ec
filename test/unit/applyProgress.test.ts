import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applyChangesAsync, type ApplyContext, undoLastApplyAsync } from '../../src/core/changes/applyChanges.js';
import { CancelledError } from '../../src/core/ground/errors.js';
import type { ProgressStep, ProgressUpdate } from '../../src/core/ground/progress.js';
import { changeSetFor, expectedHost, fakeBase, hostWorkspace, snapshotHost, type Tree } from '../helpers/fakeChangeSet.js';
import { removeTempDirs } from '../helpers/tempWorkspace.js';

after(removeTempDirs);

const name = (index: number) => `src/file${String(index).padStart(4, '0')}.txt`;

/** `count` files on the base; the container rewrote every one of them (a modify each, no risk). */
function trees(count: number, size = 64): { base: Tree; now: Tree } {
  const base: Tree = {};
  const now: Tree = {};
  for (let index = 0; index < count; index++) {
    base[name(index)] = { content: `base ${index}\n`.padEnd(size, '.') };
    now[name(index)] = { content: `changed in the box ${index}\n`.padEnd(size, '+') };
  }
  return { base, now };
}

function scenario(count: number, size?: number) {
  const { base, now } = trees(count, size);
  const fixture = fakeBase(base);
  const changeSet = changeSetFor(fixture, now);
  const root = hostWorkspace(fixture, base);
  const context: ApplyContext = { root, changeSet, content: fixture.content, blobs: fixture.blobs, journal: fixture.journal };
  return { base, now, fixture, root, context };
}

/** Apply's temp files, which a stopped or finished apply must never leave behind. */
const airlockTemps = (root: string) => fs.readdirSync(root).filter((entry) => entry.startsWith('.airlock-'));

/** The updates of one step, checked to count files, only rise, and reach their total. */
function assertCountsUp(updates: ProgressUpdate[], step: ProgressStep, total: number): void {
  const own = updates.filter((update) => update.step === step);
  assert.ok(own.length > 0, `step ${step} is reported`);
  for (const update of own) {
    assert.equal(update.unit, 'files');
    assert.equal(update.total, total, `${step} counts ${total} files throughout`);
  }
  const done = own.map((update) => update.done ?? -1);
  assert.deepEqual(done, [...done].sort((a, b) => a - b), `${step}: done only rises (${done.join(',')})`);
  assert.equal(done[0], 0);
  assert.equal(done.at(-1), total, `${step} reaches its total`);
  assert.ok(own.every((update) => update.message === own[0].message), 'one message per step: the CLI and a notification print it once');
}

function assertWholeOperationRises(updates: ProgressUpdate[]): void {
  const fractions = updates.map((update) => update.fraction ?? -1);
  assert.ok(fractions.every((fraction) => fraction >= 0 && fraction <= 1), 'every update carries the fraction');
  assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'the fraction never goes down');
  assert.equal(fractions.at(-1), 1);
}

describe('apply and undo progress and cancellation (unit)', () => {
  test('apply reports checking, then applying, in files, rising to each total; undo reports checking, then undoing', async () => {
    const s = scenario(50);
    const updates: ProgressUpdate[] = [];
    const report = await applyChangesAsync(s.context, {}, { onProgress: (update) => updates.push(update) });
    assert.equal(report.written.length, 50);
    assert.deepEqual(snapshotHost(s.root), expectedHost(s.now));
    assertCountsUp(updates, 'checking', 50);
    assertCountsUp(updates, 'applying', 50);
    const steps = updates.map((update) => update.step);
    assert.equal(steps.lastIndexOf('checking') < steps.indexOf('applying'), true, 'every change is checked before any is written');
    assertWholeOperationRises(updates);

    const undoUpdates: ProgressUpdate[] = [];
    const undo = await undoLastApplyAsync(s.context, { onProgress: (update) => undoUpdates.push(update) });
    assert.equal(undo.id, report.id);
    assert.deepEqual(snapshotHost(s.root), expectedHost(s.base));
    assertCountsUp(undoUpdates, 'checking', 50);
    assertCountsUp(undoUpdates, 'undoing', 50);
    assertWholeOperationRises(undoUpdates);
  });

  test('an apply with nothing to write still ends its progress', async () => {
    const s = scenario(3);
    const updates: ProgressUpdate[] = [];
    const report = await applyChangesAsync(s.context, { paths: ['no/such/path'] }, { onProgress: (update) => updates.push(update) });
    assert.equal(report.id, undefined);
    assert.deepEqual(updates.at(-1), { step: 'applying', message: 'writing 0 path(s) to the workspace', unit: 'files', total: 0, done: 0, fraction: 1 });
  });

  for (const [step, at] of [['checking', 3], ['applying', 3], ['applying', 50]] as const) {
    test(`an abort at ${step} file ${at} of 50 rejects with CancelledError; the host is byte for byte as it was, with no undo record`, async () => {
      const s = scenario(50);
      const before = snapshotHost(s.root);
      const controller = new AbortController();
      const seen: ProgressUpdate[] = [];
      await assert.rejects(
        applyChangesAsync(s.context, {}, {
          signal: controller.signal,
          onProgress: (update) => {
            seen.push(update);
            if (update.step === step && update.done === at) controller.abort();
          },
        }),
        (error: unknown) => CancelledError.is(error),
      );
      assert.deepEqual(snapshotHost(s.root), before);
      assert.deepEqual(airlockTemps(s.root), []);
      assert.deepEqual(s.fixture.journal.all(), [], 'no journal record: nothing to undo');
      assert.ok(!seen.some((update) => update.step === 'applying' && (update.done ?? 0) > at), 'nothing after the abort');
      await assert.rejects(undoLastApplyAsync(s.context), /there is no apply to undo/);
      // The same change set applies cleanly afterwards.
      await applyChangesAsync(s.context, {});
      assert.deepEqual(snapshotHost(s.root), expectedHost(s.now));
    });
  }

  test('an abort already signalled writes nothing and reads nothing', async () => {
    const s = scenario(5);
    const before = snapshotHost(s.root);
    const updates: ProgressUpdate[] = [];
    await assert.rejects(applyChangesAsync(s.context, {}, { signal: AbortSignal.abort(), onProgress: (update) => updates.push(update) }), (error: unknown) => CancelledError.is(error));
    assert.deepEqual(updates, []);
    assert.deepEqual(snapshotHost(s.root), before);
  });

  test('an abort after the commit point (the first host change) is ignored: the apply finishes and can be undone', async () => {
    const s = scenario(20);
    const controller = new AbortController();
    s.context.afterMutation = (index) => {
      if (index === 0) controller.abort();
    };
    const report = await applyChangesAsync(s.context, {}, { signal: controller.signal });
    assert.ok(report.id);
    assert.equal(report.written.length, 20);
    assert.deepEqual(snapshotHost(s.root), expectedHost(s.now));
    assert.deepEqual(s.fixture.journal.all().map((journal) => journal.status), ['applied']);
    s.context.afterMutation = undefined;
    await undoLastApplyAsync(s.context);
    assert.deepEqual(snapshotHost(s.root), expectedHost(s.base));
  });

  test('an undo stopped before its first host change restores nothing and stays undoable', async () => {
    const s = scenario(50);
    const report = await applyChangesAsync(s.context, {});
    const applied = snapshotHost(s.root);
    const controller = new AbortController();
    await assert.rejects(
      undoLastApplyAsync(s.context, { signal: controller.signal, onProgress: (update) => update.step === 'undoing' && update.done === 3 && controller.abort() }),
      (error: unknown) => CancelledError.is(error),
    );
    assert.deepEqual(snapshotHost(s.root), applied);
    assert.deepEqual(airlockTemps(s.root), []);
    assert.deepEqual(s.fixture.journal.all().map((journal) => [journal.id, journal.status]), [[report.id, 'applied']]);
    await undoLastApplyAsync(s.context);
    assert.deepEqual(snapshotHost(s.root), expectedHost(s.base));
  });

  test('a 500-file apply lets timers run while it works', async () => {
    const s = scenario(500, 4096);
    let working = false;
    let ticksWhileWorking = 0;
    const timer = setInterval(() => {
      if (working) ticksWhileWorking++;
    }, 1);
    try {
      const applying = applyChangesAsync(s.context, {}, { onProgress: (update) => void (working = !(update.step === 'applying' && update.done === update.total)) });
      const report = await applying;
      assert.equal(report.written.length, 500);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticksWhileWorking > 0, 'a 1 ms timer fired between the first and the last progress update');
    assert.deepEqual(snapshotHost(s.root), expectedHost(s.now));
    assert.equal(fs.existsSync(path.join(s.root, 'src')), true);
  });
});
