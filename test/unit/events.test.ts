import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { DisposableStore, Emitter, nextEvent, toDisposable, type Disposable } from '../../src/core/ground/events.js';

describe('Emitter (unit)', () => {
  test('a listener that throws does not stop the others; its error goes to the error handler', () => {
    const errors: unknown[] = [];
    const emitter = new Emitter<number>((error) => errors.push(error));
    const seen: string[] = [];
    emitter.event((value) => seen.push(`first ${value}`));
    emitter.event(() => { throw new Error('listener broke'); });
    emitter.event((value) => seen.push(`third ${value}`));
    emitter.fire(7);
    assert.deepEqual(seen, ['first 7', 'third 7']);
    assert.deepEqual(errors.map((error) => (error as Error).message), ['listener broke']);
  });

  test('by default a listener error is rethrown later, not swallowed and not thrown at the firer', () => {
    // The test runner catches uncaught exceptions itself, so this one runs in a process of its own.
    const script = `const { Emitter } = require(${JSON.stringify(path.resolve('src/core/ground/events.ts'))}); const emitter = new Emitter(); emitter.event(() => { throw new Error('seen later'); }); emitter.fire(); console.log('fire returned');`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.stdout, 'fire returned\n');
    assert.match(child.stderr, /Error: seen later/);
    assert.notEqual(child.status, 0);
  });

  test('thisArgs is the listener\'s `this`', () => {
    const emitter = new Emitter<number>();
    const counter = { total: 0, add(this: { total: number }, value: number) { this.total += value; } };
    // eslint-disable-next-line @typescript-eslint/unbound-method -- passing the bare method is the point: the emitter must call it with thisArgs
    emitter.event(counter.add, counter);
    emitter.fire(2);
    emitter.fire(3);
    assert.equal(counter.total, 5);
  });

  test('the subscription is pushed into the disposables array, and disposing it unsubscribes', () => {
    const emitter = new Emitter<string>();
    const disposables: Disposable[] = [];
    const seen: string[] = [];
    const subscription = emitter.event((value) => seen.push(value), undefined, disposables);
    assert.deepEqual(disposables, [subscription]);
    emitter.fire('a');
    disposables.forEach((item) => item.dispose());
    emitter.fire('b');
    assert.deepEqual(seen, ['a']);
    assert.equal(emitter.hasListeners, false);
  });

  test('the same function subscribed twice is called twice, and disposing one subscription keeps the other', () => {
    const emitter = new Emitter<number>();
    const seen: number[] = [];
    const listener = (value: number) => seen.push(value);
    const first = emitter.event(listener);
    emitter.event(listener);
    emitter.fire(1);
    first.dispose();
    first.dispose();
    emitter.fire(2);
    assert.deepEqual(seen, [1, 1, 2]);
  });

  test('a listener disposed by another during delivery is not called; one added during delivery waits for the next event', () => {
    const emitter = new Emitter<number>();
    const seen: string[] = [];
    let late: Disposable | undefined;
    emitter.event((value) => {
      second.dispose();
      late ??= emitter.event((next) => seen.push(`late ${next}`));
      seen.push(`first ${value}`);
    });
    const second = emitter.event((value) => seen.push(`second ${value}`));
    emitter.fire(1);
    emitter.fire(2);
    assert.deepEqual(seen, ['first 1', 'first 2', 'late 2']);
  });

  test('after dispose nothing is delivered and new subscriptions are inert', () => {
    const emitter = new Emitter<number>();
    const seen: number[] = [];
    emitter.event((value) => seen.push(value));
    emitter.dispose();
    emitter.event((value) => seen.push(value * 10)).dispose();
    emitter.fire(1);
    assert.deepEqual(seen, []);
    assert.equal(emitter.hasListeners, false);
  });
});

describe('toDisposable and DisposableStore (unit)', () => {
  test('toDisposable runs its function once however often it is disposed', () => {
    let runs = 0;
    const disposable = toDisposable(() => runs++);
    disposable.dispose();
    disposable.dispose();
    assert.equal(runs, 1);
  });

  test('a store disposes its items once, last added first', () => {
    const order: string[] = [];
    const store = new DisposableStore();
    store.add(toDisposable(() => order.push('first')));
    store.add(toDisposable(() => order.push('second')));
    store.dispose();
    store.dispose();
    assert.deepEqual(order, ['second', 'first']);
    assert.equal(store.isDisposed, true);
  });

  test('an item added after the store was disposed is disposed at once', () => {
    const store = new DisposableStore();
    store.dispose();
    let disposed = false;
    const item = store.add(toDisposable(() => { disposed = true; }));
    assert.equal(disposed, true);
    assert.equal(typeof item.dispose, 'function');
  });

  test('every item is disposed even when some throw; one error is rethrown as is, several together', () => {
    const order: string[] = [];
    const one = new DisposableStore();
    one.add(toDisposable(() => order.push('kept going')));
    one.add({ dispose: () => { throw new Error('only one'); } });
    assert.throws(() => one.dispose(), /only one/);
    assert.deepEqual(order, ['kept going']);

    const several = new DisposableStore();
    several.add({ dispose: () => { throw new Error('a'); } });
    several.add({ dispose: () => { throw new Error('b'); } });
    assert.throws(() => several.dispose(), (error: unknown) => error instanceof AggregateError && error.errors.map((item: Error) => item.message).join() === 'b,a');
  });
});

describe('nextEvent (unit)', () => {
  test('resolves with the first matching event and unsubscribes', async () => {
    const emitter = new Emitter<number>();
    const next = nextEvent(emitter.event, (value) => value > 1);
    emitter.fire(1);
    emitter.fire(2);
    emitter.fire(3);
    assert.equal(await next, 2);
    assert.equal(emitter.hasListeners, false);
  });

  test('rejects with the signal\'s reason when it aborts first, and unsubscribes', async () => {
    const emitter = new Emitter<number>();
    // A referenced timer (AbortSignal.timeout's is not), so the test's event loop waits for it.
    const timeout = new AbortController();
    setTimeout(() => timeout.abort(new DOMException('timed out', 'TimeoutError')), 20);
    await assert.rejects(nextEvent(emitter.event, () => true, timeout.signal), (error: unknown) => (error as Error).name === 'TimeoutError');
    assert.equal(emitter.hasListeners, false);
    const aborted = new AbortController();
    aborted.abort(new Error('gave up'));
    await assert.rejects(nextEvent(emitter.event, () => true, aborted.signal), /gave up/);
    assert.equal(emitter.hasListeners, false);
  });

  test('rejects when the matcher throws', async () => {
    const emitter = new Emitter<number>();
    const next = nextEvent(emitter.event, () => { throw new Error('bad matcher'); });
    emitter.fire(1);
    await assert.rejects(next, /bad matcher/);
    assert.equal(emitter.hasListeners, false);
  });
});
