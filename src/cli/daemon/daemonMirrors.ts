import { startHostMirror, TaskWatcher, type HostMirror, type TaskRecord, type TaskService } from '../../core/index.js';

/** How long a command waits for host edits still on their way into the box before it runs anyway. */
const IDLE_WAIT_MS = 3000;

/**
 * The daemon's host→box mirrors: one for every live task started with `mirrorHostEdits` (`airlock
 * start --mirror`, or VS Code's default). The daemon is the one place that runs them, so a task
 * has exactly one mirror whichever front end started it, and it outlives a closed editor window.
 */
export class DaemonMirrors {
  private readonly mirrors = new Map<string, Promise<HostMirror | undefined>>();
  private watcher: TaskWatcher | undefined;

  constructor(private readonly service: TaskService, private readonly log: (line: string) => void) {}

  async start(): Promise<void> {
    this.watcher = await TaskWatcher.open(this.service.engine.docker, this.service.store);
    this.watcher.onDidStart((event) => this.consider(event.status.record));
    this.watcher.onDidChange((event) => this.consider(event.status.record));
    this.watcher.onDidEnd((event) => this.end(event.status.record.id));
    for (const status of this.watcher.current()) this.consider(status.record);
  }

  /** How many tasks are mirrored now: the daemon stays while any are. */
  get count(): number {
    return this.mirrors.size;
  }

  /** Resolves once host edits seen so far are in the task's box (or after IDLE_WAIT_MS). */
  async idle(taskId: string): Promise<void> {
    const mirror = await this.mirrors.get(taskId);
    if (!mirror || mirror.stopped) return;
    await Promise.race([mirror.idle(), new Promise((resolve) => setTimeout(resolve, IDLE_WAIT_MS).unref())]);
  }

  private consider(record: TaskRecord): void {
    if (record.destroyedAt || !(record.options as { mirrorHostEdits?: boolean }).mirrorHostEdits || this.mirrors.has(record.id)) return;
    const starting = startHostMirror(this.service, record.id, {
      onEvent: (event) => {
        if (event.kind === 'conflict') this.log(`task ${record.id}: changed on both sides, left for the review: ${event.paths.join(', ')}`);
        else if (event.kind === 'error') this.log(`task ${record.id}: mirror: ${event.message}`);
        else if (event.kind === 'stopped') {
          this.log(`task ${record.id}: mirror stopped: ${event.reason}`);
          this.mirrors.delete(record.id);
        }
      },
    }).catch((error: unknown) => {
      this.log(`task ${record.id}: the mirror did not start: ${(error as Error).message}`);
      this.mirrors.delete(record.id);
      return undefined;
    });
    this.mirrors.set(record.id, starting);
    this.log(`task ${record.id}: mirroring host edits from ${record.workspace}`);
  }

  private end(taskId: string): void {
    const mirror = this.mirrors.get(taskId);
    this.mirrors.delete(taskId);
    void mirror?.then((value) => value?.dispose());
  }

  dispose(): void {
    this.watcher?.dispose();
    for (const id of [...this.mirrors.keys()]) this.end(id);
  }
}
