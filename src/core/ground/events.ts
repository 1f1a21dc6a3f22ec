/**
 * The core's event and disposable vocabulary. Shapes match VS Code's `Event<T>` and `Disposable`
 * structurally (a function taking a listener, optional thisArgs and a disposables array, returning
 * something with dispose()), so the extension can hand them to VS Code APIs unchanged, while the
 * core stays free of the `vscode` module.
 */
export interface Disposable {
  dispose(): void;
}

export type Event<T> = (listener: (event: T) => unknown, thisArgs?: unknown, disposables?: Disposable[]) => Disposable;

export function toDisposable(dispose: () => void): Disposable {
  let done = false;
  return { dispose: () => { if (!done) { done = true; dispose(); } } };
}

/** Holds disposables and disposes them once, in reverse order of adding (last set up, first torn down). */
export class DisposableStore implements Disposable {
  private readonly items: Disposable[] = [];
  private disposed = false;

  add<T extends Disposable>(item: T): T {
    if (this.disposed) item.dispose();
    else this.items.push(item);
    return item;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    for (const item of this.items.splice(0).reverse()) {
      try { item.dispose(); } catch (error) { errors.push(error); }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several disposables failed');
  }
}

/**
 * A source of one kind of event. A listener that throws does not stop the others: its error goes
 * to `onListenerError` (by default rethrown asynchronously, so it is seen, not swallowed). Each
 * subscription is its own entry, so the same function subscribed twice is called twice and
 * disposing one leaves the other; one disposed while an event is being delivered is not called.
 */
export class Emitter<T> implements Disposable {
  private listeners = new Set<{ call: (event: T) => unknown }>();
  private disposed = false;

  constructor(private readonly onListenerError: (error: unknown) => void = (error) => queueMicrotask(() => { throw error; })) {}

  readonly event: Event<T> = (listener, thisArgs, disposables) => {
    if (this.disposed) return toDisposable(() => undefined);
    const entry = { call: thisArgs === undefined ? listener : listener.bind(thisArgs) };
    this.listeners.add(entry);
    const subscription = toDisposable(() => this.listeners.delete(entry));
    disposables?.push(subscription);
    return subscription;
  };

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  fire(event: T): void {
    for (const entry of [...this.listeners]) {
      if (!this.listeners.has(entry)) continue;
      try { entry.call(event); } catch (error) { this.onListenerError(error); }
    }
  }

  dispose(): void {
    this.disposed = true;
    this.listeners.clear();
  }
}

/**
 * Resolves with the next event that matches, or rejects when the signal aborts (pass
 * `AbortSignal.timeout(ms)` for a deadline) or when `matches` throws.
 */
export function nextEvent<T>(event: Event<T>, matches: (value: T) => boolean = () => true, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const settle = (outcome: () => void) => {
      subscription.dispose();
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = () => settle(() => reject(signal?.reason ?? new Error('aborted')));
    const subscription = event((value) => {
      let matched: boolean;
      try {
        matched = matches(value);
      } catch (error) {
        settle(() => reject(error));
        return;
      }
      if (matched) settle(() => resolve(value));
    });
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
}
