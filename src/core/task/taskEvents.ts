import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { openEngineEvents, type EngineEvent, type EngineEventStream } from '../engine/engineEvents.js';
import { containerInspectSchema, containerSummarySchema } from '../engine/engineSchemas.js';
import { Emitter, type Disposable, type Event } from '../ground/events.js';
import { watchFolder, type FolderWatch } from '../ground/folderWatch.js';
import { TASK_LABEL, type TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import { hasEngineLoss } from './engineRestart.js';
import { taskStatus, unrecordedEnd, type TaskState, type TaskStatus } from './taskStatus.js';

/**
 * Why a task ended: its TTL ran out (the container's own sleep finished), someone stopped it
 * (`airlock stop`, or whatever reason the stopper recorded), the box ended by itself or was removed
 * by something that recorded nothing, or its record went away (a start that failed after saving it).
 */
export type TaskEndReason = 'ttl expired' | 'stopped by user' | 'container exited' | 'record removed' | (string & {});

export interface TaskEvent {
  id: string;
  /** What `TaskService.list()` would say now: `taskStatus()` of the record and its container. */
  status: TaskStatus;
  /** The state last reported for the task; absent for a task this watcher had not seen. */
  previous?: TaskState;
}

export interface TaskEndEvent extends TaskEvent {
  reason: TaskEndReason;
}

export interface EngineLoss {
  error: Error;
  /** When the next connection attempt is made. */
  retryInMs: number;
}

export interface TaskWatcherOptions {
  signal?: AbortSignal;
  /** Poll the state folder instead of using the OS's notifications (see watchFolder). */
  polling?: boolean;
  /**
   * How long a container removed from outside (an engine kill before its TTL) waits for its
   * stopper's record before it ends as 'container exited'. `TaskService.stop` records right
   * after the engine lets go of the container.
   */
  endGraceMs?: number;
  /** Reconnect backoff after the engine stream ends: doubling from `initialMs` up to `maxMs`. */
  reconnect?: { initialMs?: number; maxMs?: number };
}

/** What the engine said last about a task's container. */
interface ContainerFacts {
  state: string;
  /** Killed through the engine's API (stop, rm -f): someone outside the box ended it. */
  killed: boolean;
  exitCode?: number;
}

/** Only the lifecycle: exec events (one per command) never reach the host. */
const LIFECYCLE = ['create', 'start', 'pause', 'unpause', 'kill', 'die', 'destroy'];

/**
 * Task lifecycle events for long-lived front ends (tree views, status bars), without polling.
 * Two sources: the engine's event stream for Airlock's containers (label `airlock.task`), which
 * sees a TTL end or a `docker rm` with no Airlock process involved, and a watch of the state
 * folder's `tasks/<id>/task.json`, which sees records another process writes (a start, a stop and
 * its reason). It only reads: records of ended tasks are written by whoever stops them, and by `gc`.
 *
 * When the stream ends or fails, `onDidLoseEngine` fires, the watcher reconnects with backoff, and
 * on reconnect it lists the containers once and fires what changed meanwhile. Events are
 * reported as `taskStatus()` derives them, so they agree with `TaskService.list()`.
 */
export class TaskWatcher implements Disposable {
  private readonly started = new Emitter<TaskEvent>();
  private readonly changed = new Emitter<TaskEvent>();
  private readonly ended = new Emitter<TaskEndEvent>();
  private readonly lost = new Emitter<EngineLoss>();
  private readonly recovered = new Emitter<void>();

  /** A task started after the watcher did: its record appeared with its container running. */
  readonly onDidStart: Event<TaskEvent> = this.started.event;
  /** Any other change: running ⇄ stopped (paused, exited before removal), a record rewritten. */
  readonly onDidChange: Event<TaskEvent> = this.changed.event;
  /** A task's container is gone (or its record is), with the reason. */
  readonly onDidEnd: Event<TaskEndEvent> = this.ended.event;
  /** The engine's stream ended or could not be opened; task states are the last known until it is back. */
  readonly onDidLoseEngine: Event<EngineLoss> = this.lost.event;
  /**
   * Connected again, with what changed meanwhile already fired. After a watcher that opened with
   * no engine, the first connection fills `current()` without start events: read it then.
   */
  readonly onDidRecoverEngine: Event<void> = this.recovered.event;

  private readonly records = new Map<string, TaskRecord>();
  private containers = new Map<string, ContainerFacts>();
  /** How each task's last container went, until its end is reported. */
  private readonly gone = new Map<string, ContainerFacts>();
  private readonly statuses = new Map<string, TaskStatus>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private readonly graceOver = new Set<string>();
  private readonly confirming = new Set<string>();
  private readonly abort = new AbortController();
  private stream: EngineEventStream | undefined;
  private folder: FolderWatch | undefined;
  private running: Promise<void> = Promise.resolve();
  private connected = false;
  private reconciled = false;
  private lossReported = false;
  private disposed = false;
  private readonly onAbort = () => this.dispose();

  private constructor(private readonly docker: Pick<Docker, 'getEvents' | 'listContainers' | 'getContainer'>, private readonly store: TaskStore, private readonly options: TaskWatcherOptions) {}

  /**
   * Starts watching; resolves once the records are read and the engine has been tried once
   * (connected, or `engineConnected` false with a reconnect scheduled).
   */
  static async open(docker: Pick<Docker, 'getEvents' | 'listContainers' | 'getContainer'>, store: TaskStore, options: TaskWatcherOptions = {}): Promise<TaskWatcher> {
    const watcher = new TaskWatcher(docker, store, options);
    await watcher.begin();
    return watcher;
  }

  /** Whether the engine's stream is open and the states below are current. */
  get engineConnected(): boolean {
    return this.connected;
  }

  /** Every known task's last reported state, by id (as `list()` would have it, without asking the engine). */
  current(): TaskStatus[] {
    return [...this.statuses.values()].sort((a, b) => a.record.id.localeCompare(b.record.id));
  }

  private async begin(): Promise<void> {
    const { signal } = this.options;
    if (signal?.aborted) this.dispose();
    if (this.disposed) return;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    const tasksDir = path.join(this.store.root, 'tasks');
    this.folder = watchFolder(tasksDir, {
      includes: (parts) => parts.length === 1 || (parts.length === 2 && parts[1] === 'task.json'),
      polling: this.options.polling,
    }, (change, parts, initial) => {
      if (parts.length !== 2) return;
      const [id] = parts;
      if (change === 'unlink') this.records.delete(id);
      else if (change === 'add' || change === 'change') {
        const record = this.read(id);
        if (!record) return;
        this.records.set(id, record);
      } else return;
      if (!initial) this.recordChanged(id);
    });
    await this.folder.ready;
    let firstTry: () => void = () => undefined;
    const tried = new Promise<void>((resolve) => { firstTry = resolve; });
    this.running = this.follow(firstTry);
    await tried;
  }

  private read(id: string): TaskRecord | undefined {
    try {
      return this.store.load(id);
    } catch {
      // not a task id, or a record this version cannot read: not a task to report
      return undefined;
    }
  }

  /** Connects, follows the stream while it lasts, and reconnects with backoff until disposed. */
  private async follow(firstTry: () => void): Promise<void> {
    const initialMs = this.options.reconnect?.initialMs ?? 250;
    const maxMs = this.options.reconnect?.maxMs ?? 30_000;
    let attempt = 0;
    while (!this.disposed) {
      let error: Error;
      try {
        await this.connect(() => {
          attempt = 0;
          firstTry();
        });
        error = new Error('the engine ended its event stream');
      } catch (caught) {
        error = caught instanceof Error ? caught : new Error(String(caught));
      }
      this.stream?.dispose();
      this.stream = undefined;
      this.connected = false;
      if (this.disposed) break;
      const retryInMs = Math.min(maxMs, initialMs * 2 ** attempt++);
      if (!this.lossReported) {
        this.lossReported = true;
        this.lost.fire({ error, retryInMs });
      }
      firstTry();
      try {
        await delay(retryInMs, undefined, { signal: this.abort.signal });
      } catch {
        break;
      }
    }
    firstTry();
  }

  /**
   * Opens the stream first and lists second, holding the stream's events until the list is in:
   * then the list plus those events is the engine's state, with nothing missed in between. Each
   * event sets an absolute state, so replaying one the list already reflects changes nothing.
   */
  private async connect(onConnected: () => void): Promise<void> {
    const held: EngineEvent[] = [];
    let live = false;
    const stream = await openEngineEvents(this.docker, { type: ['container'], label: [TASK_LABEL], event: LIFECYCLE }, (event) => {
      if (!live) held.push(event);
      else this.evaluate(this.apply(this.containers, event));
    });
    this.stream = stream;
    if (this.disposed) return;
    const listed = await this.docker.listContainers({ all: true, filters: { label: [TASK_LABEL] } });
    if (this.disposed) return;
    const containers = new Map<string, ContainerFacts>();
    for (const item of listed) {
      const summary = containerSummarySchema.parse(item);
      const task = summary.Labels[TASK_LABEL];
      if (task) containers.set(task, { state: summary.State ?? 'unknown', killed: false });
    }
    for (const event of held) this.apply(containers, event);
    this.containers = containers;
    live = true;
    this.connected = true;
    const quiet = !this.reconciled;
    this.reconciled = true;
    if (this.lossReported) {
      this.lossReported = false;
      this.recovered.fire();
    }
    for (const id of new Set([...this.records.keys(), ...this.statuses.keys()])) this.evaluate(id, quiet);
    onConnected();
    await stream.ended;
  }

  /** Updates `containers` from one engine event; returns the task it concerns. */
  private apply(containers: Map<string, ContainerFacts>, event: EngineEvent): string | undefined {
    const task = event.Actor.Attributes[TASK_LABEL];
    if (!task) return undefined;
    const facts = containers.get(task) ?? { state: 'created', killed: false };
    switch (event.Action) {
      case 'create':
        containers.set(task, { state: 'created', killed: false });
        this.gone.delete(task);
        break;
      case 'start':
      case 'unpause':
        containers.set(task, { ...facts, state: 'running' });
        break;
      case 'pause':
        containers.set(task, { ...facts, state: 'paused' });
        break;
      case 'kill':
        containers.set(task, { ...facts, killed: true });
        break;
      case 'die': {
        const exitCode = Number(event.Actor.Attributes.exitCode);
        containers.set(task, { ...facts, state: 'exited', exitCode: Number.isInteger(exitCode) ? exitCode : undefined });
        break;
      }
      case 'destroy':
        containers.delete(task);
        this.gone.set(task, facts);
        break;
      default:
        return undefined;
    }
    return task;
  }

  private recordChanged(id: string): void {
    const record = this.records.get(id);
    // A record that shows up before its container's events did (or while they are on the way)
    // is checked with one inspect, so a start is not mistaken for a task already gone.
    if (record && !this.statuses.has(id) && !this.containers.has(id) && !this.gone.has(id) && this.connected) void this.confirm(id, record);
    else this.evaluate(id);
  }

  private async confirm(id: string, record: TaskRecord): Promise<void> {
    if (this.confirming.has(id)) return;
    this.confirming.add(id);
    try {
      const info = containerInspectSchema.parse(await this.docker.getContainer(record.containerId).inspect());
      if (this.connected && !this.containers.has(id) && !this.gone.has(id)) this.containers.set(id, { state: info.State.Status, killed: false });
    } catch {
      // gone (404); any other failure is the stream's to notice and report
    } finally {
      this.confirming.delete(id);
    }
    this.evaluate(id);
  }

  /** Derives the task's state and reports it if it changed. */
  private evaluate(id: string | undefined, quiet = false): void {
    if (id === undefined || !this.connected || this.disposed) return;
    const record = this.records.get(id);
    const last = this.statuses.get(id);
    if (!record) {
      // Another state folder's task (same engine, other user or test), or a start that failed.
      if (!last) {
        this.gone.delete(id);
        return;
      }
      this.settle(id);
      this.statuses.delete(id);
      if (last.state !== 'destroyed') this.ended.fire({ id, status: { record: { ...last.record, destroyReason: 'record removed' }, state: 'destroyed' }, previous: last.state, reason: 'record removed' });
      // An ended task's record pruned by gc: lists that still show it under their recent tasks redraw.
      else this.changed.fire({ id, status: last, previous: last.state });
      return;
    }
    const facts = this.containers.get(id);
    const status = taskStatus(record, facts && { State: facts.state }, Date.now(), { engineLost: hasEngineLoss(this.store, id) });
    if (last && last.state !== 'destroyed' && status.state === 'destroyed') {
      const reason = this.endReason(id, record);
      if (reason === undefined) return;
      const ended: TaskStatus = { record: { ...status.record, destroyReason: reason }, state: 'destroyed' };
      this.settle(id);
      this.statuses.set(id, ended);
      this.ended.fire({ id, status: ended, previous: last.state, reason });
      return;
    }
    if (last && last.state === status.state && JSON.stringify(last.record) === JSON.stringify(status.record)) return;
    this.statuses.set(id, status);
    if (quiet) return;
    if (!last && status.state === 'running') this.started.fire({ id, status });
    else this.changed.fire({ id, status, previous: last?.state });
  }

  /**
   * The reason for a task whose container has gone: the one its stopper recorded; 'ttl expired'
   * when the box's sleep ran out (exit 0) or the TTL has passed; 'container exited' when the box
   * ended by itself. A container killed from outside before its TTL is most likely a
   * `TaskService.stop` that records as soon as the engine lets go, so it waits for that record
   * (undefined: not yet), up to `endGraceMs`.
   */
  private endReason(id: string, record: TaskRecord): TaskEndReason | undefined {
    if (record.destroyedAt) return record.destroyReason ?? unrecordedEnd(record);
    const facts = this.gone.get(id);
    if (facts && !facts.killed) return facts.exitCode === 0 ? 'ttl expired' : unrecordedEnd(record);
    if (Date.parse(record.expiresAt) <= Date.now() || this.graceOver.has(id)) return unrecordedEnd(record);
    if (!this.graceTimers.has(id)) {
      const timer = setTimeout(() => {
        this.graceTimers.delete(id);
        this.graceOver.add(id);
        this.evaluate(id);
      }, this.options.endGraceMs ?? 5000);
      this.graceTimers.set(id, timer);
    }
    return undefined;
  }

  private settle(id: string): void {
    clearTimeout(this.graceTimers.get(id));
    this.graceTimers.delete(id);
    this.graceOver.delete(id);
    this.gone.delete(id);
  }

  /** Stops watching: the engine stream and the folder watch are closed, timers cleared, listeners dropped. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.connected = false;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.abort.abort();
    this.stream?.dispose();
    for (const timer of this.graceTimers.values()) clearTimeout(timer);
    this.graceTimers.clear();
    void this.folder?.close();
    for (const emitter of [this.started, this.changed, this.ended, this.lost, this.recovered]) emitter.dispose();
  }

  /** Disposes and waits until the stream's socket and the folder's watches are released. */
  async close(): Promise<void> {
    this.dispose();
    await Promise.all([this.running, this.folder?.close()]);
  }
}
