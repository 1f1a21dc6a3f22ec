import * as fs from 'node:fs';
import * as path from 'node:path';
import { Emitter, type Disposable, type Event } from '../ground/events.js';
import { watchFolder, type FolderWatch } from '../ground/folderWatch.js';
import type { TaskStore } from '../state/taskStore.js';
import { ApprovalBoard } from './approvalBoard.js';
import type { ApprovalDecision, ApprovalQueue, ApprovalRequest } from './approvalQueue.js';

export interface ApprovalEvent {
  task: string;
  request: ApprovalRequest;
}

export interface ApprovalDecisionEvent extends ApprovalEvent {
  decision: ApprovalDecision;
}

export interface ApprovalExpiryEvent extends ApprovalEvent {
  /** The "deny" Airlock recorded at the deadline, when one is on file yet (the asker records it). */
  decision?: ApprovalDecision;
}

export interface ApprovalWatcherOptions {
  signal?: AbortSignal;
  /**
   * Poll the state folder instead of using the OS's notifications: for state folders on network
   * file systems, where another host's writes raise no local notification. Without it, polling
   * is used only when the OS runs out of watches (see watchFolder).
   */
  polling?: boolean;
  pollIntervalMs?: number;
}

type Outcome = 'pending' | 'decided' | 'expired';

interface Entry {
  task: string;
  request: ApprovalRequest;
  outcome: Outcome;
}

/** A request file, `<24 hex>.request.json`, or its decision; temp files of either never match. */
const FILE = /^([a-f0-9]{24})\.(request|decision)\.json$/;
/** setTimeout's ceiling; a later deadline is re-armed when this fires. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Every task's approval requests as events, for the approvals panel and other long-lived front
 * ends: a request filed (by the gate, the gateway or a push, in any process), decided (by anyone),
 * or run out of time. It watches each task's `approvals/` folder, tasks created later included,
 * and arms one timer for the soonest pending deadline. It only reads: the "deny" at a deadline is
 * recorded by whoever asked (`ApprovalQueue.wait`) or by the board's next look.
 */
export class ApprovalWatcher implements Disposable {
  private readonly requested = new Emitter<ApprovalEvent>();
  private readonly decided = new Emitter<ApprovalDecisionEvent>();
  private readonly expired = new Emitter<ApprovalExpiryEvent>();

  /** A request is waiting for a person. */
  readonly onDidRequest: Event<ApprovalEvent> = this.requested.event;
  /** Someone (a reviewer, or Airlock because the asker went away) decided a request. */
  readonly onDidDecide: Event<ApprovalDecisionEvent> = this.decided.event;
  /** A request left the queue undecided: its deadline passed, or its task's folder was removed. */
  readonly onDidExpire: Event<ApprovalExpiryEvent> = this.expired.event;

  private readonly board: ApprovalBoard;
  private readonly queues = new Map<string, ApprovalQueue>();
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private folder: FolderWatch | undefined;
  private disposed = false;
  private readonly onAbort = () => this.dispose();

  private constructor(private readonly store: TaskStore, private readonly options: ApprovalWatcherOptions) {
    this.board = new ApprovalBoard(store);
  }

  /** Starts watching; resolves once the requests already on file are read (they raise no events). */
  static async open(store: TaskStore, options: ApprovalWatcherOptions = {}): Promise<ApprovalWatcher> {
    const watcher = new ApprovalWatcher(store, options);
    await watcher.begin();
    return watcher;
  }

  /** Whether the state folder is polled (asked for, or the OS ran out of watches). */
  get polling(): boolean {
    return this.folder?.polling ?? false;
  }

  /** Requests waiting for a person, oldest first, across every task. */
  pending(): ApprovalRequest[] {
    const now = Date.now();
    return [...this.entries.values()]
      .filter((entry) => entry.outcome === 'pending' && Date.parse(entry.request.expiresAt) > now)
      .map((entry) => entry.request)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  private async begin(): Promise<void> {
    const { signal } = this.options;
    if (signal?.aborted) this.dispose();
    if (this.disposed) return;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    this.folder = watchFolder(path.join(this.store.root, 'tasks'), {
      includes: (parts) => parts.length === 1 || (parts[1] === 'approvals' && (parts.length === 2 || (parts.length === 3 && FILE.test(parts[2])))),
      polling: this.options.polling,
      pollIntervalMs: this.options.pollIntervalMs,
    }, (change, parts, initial) => {
      if (change === 'addDir' && !initial && !this.disposed && (parts.length === 1 || (parts.length === 2 && parts[1] === 'approvals'))) this.rescanSoon(parts[0]);
      const match = parts.length === 3 ? FILE.exec(parts[2]) : null;
      if (!match || this.disposed) return;
      const [task] = parts;
      if (change === 'add' || change === 'change') this.look(task, match[1], initial);
      else if (change === 'unlink' && match[2] === 'request') this.withdraw(task, match[1]);
    });
    await this.folder.ready;
  }

  /**
   * A folder made by another process is watched only from the moment the watcher sees it, so a
   * request written into it at once can land before its watch exists (the writer makes the task
   * folder, its approvals folder and the request in one go). One read of the folder right away and
   * one shortly after closes that window; `look` reports each request and decision once.
   */
  private rescanSoon(task: string): void {
    const rescan = () => {
      if (this.disposed) return;
      let names: string[];
      try {
        names = fs.readdirSync(path.join(this.store.root, 'tasks', task, 'approvals'));
      } catch {
        return; // not there yet: its own addDir comes later
      }
      for (const name of names) {
        const match = FILE.exec(name);
        if (match) this.look(task, match[1], false);
      }
    };
    rescan();
    setTimeout(rescan, 100).unref();
  }

  private queue(task: string): ApprovalQueue | undefined {
    let queue = this.queues.get(task);
    if (!queue) {
      try {
        queue = this.board.queue(task);
      } catch {
        return undefined; // a folder name that is no task id
      }
      this.queues.set(task, queue);
    }
    return queue;
  }

  /** Reads a request and its decision after either file appeared, and reports what is new. */
  private look(task: string, id: string, quiet: boolean): void {
    const key = `${task}/${id}`;
    let entry = this.entries.get(key);
    if (entry && entry.outcome !== 'pending') return;
    const queue = this.queue(task);
    if (!queue) return;
    if (!entry) {
      // A decision can be seen first (a new folder is read in any order); the request decides.
      const request = queue.find(id);
      if (!request) return;
      entry = { task, request, outcome: 'pending' };
      this.entries.set(key, entry);
      if (!quiet) this.requested.fire({ task, request });
    }
    this.conclude(entry, queue, quiet);
    this.arm();
  }

  /** Settles a pending entry from its decision on file, or from the clock. */
  private conclude(entry: Entry, queue: ApprovalQueue, quiet: boolean): void {
    const decision = queue.decision(entry.request.id);
    const deadline = Date.parse(entry.request.expiresAt);
    if (decision) {
      // Airlock's own deny at or after the deadline is how a timeout is recorded.
      const timedOut = decision.by === 'airlock' && Date.parse(decision.at) >= deadline;
      entry.outcome = timedOut ? 'expired' : 'decided';
      if (quiet) return;
      if (timedOut) this.expired.fire({ task: entry.task, request: entry.request, decision });
      else this.decided.fire({ task: entry.task, request: entry.request, decision });
    } else if (deadline <= Date.now()) {
      entry.outcome = 'expired';
      if (!quiet) this.expired.fire({ task: entry.task, request: entry.request });
    }
  }

  private withdraw(task: string, id: string): void {
    const key = `${task}/${id}`;
    const entry = this.entries.get(key);
    this.entries.delete(key);
    if (entry?.outcome === 'pending') this.expired.fire({ task, request: entry.request });
    this.arm();
  }

  /** One timer, for the soonest deadline among pending requests; nothing is read until it fires. */
  private arm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.disposed) return;
    let soonest = Infinity;
    for (const entry of this.entries.values()) {
      if (entry.outcome === 'pending') soonest = Math.min(soonest, Date.parse(entry.request.expiresAt));
    }
    if (soonest === Infinity) return;
    this.timer = setTimeout(() => this.deadlinePassed(), Math.min(MAX_DELAY, Math.max(0, soonest - Date.now())));
    this.timer.unref();
  }

  /** A decision written just before the deadline may not have been seen yet: each is read once here. */
  private deadlinePassed(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const entry of this.entries.values()) {
      if (entry.outcome !== 'pending' || Date.parse(entry.request.expiresAt) > now) continue;
      const queue = this.queue(entry.task);
      if (queue) this.conclude(entry, queue, false);
    }
    this.arm();
  }

  /** Stops watching: the folder watch is closed, the timer cleared, listeners dropped. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.timer);
    void this.folder?.close();
    for (const emitter of [this.requested, this.decided, this.expired]) emitter.dispose();
  }

  /** Disposes and waits until the folder's watches are released. */
  async close(): Promise<void> {
    this.dispose();
    await this.folder?.close();
  }
}
