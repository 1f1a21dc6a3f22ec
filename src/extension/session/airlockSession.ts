import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type * as Core from '../../core/index.js';
import type { ApprovalRequest, ApprovalWatcher, TaskOverview, TaskService, TaskStatus, TaskStore, TaskWatcher } from '../../core/index.js';

/** Where the engine connection stands, for the views' messages and the status bar. */
export type EngineState =
  | { kind: 'connecting' }
  | { kind: 'connected'; version: string }
  /** Never reached, or lost: `message` is the core's one sentence; a retry is scheduled. */
  | { kind: 'unreachable'; message: string; error: unknown };

const RETRY_MS = { initial: 2_000, max: 60_000 };

/**
 * What the detached egress gateway inherits from the extension host: what finding the engine and
 * running node need, never the rest (VS Code's IPC hooks, NODE_OPTIONS, code-server's password, tokens).
 */
const GATEWAY_ENV = /^(PATH|HOME|USER|LOGNAME|TMPDIR|TMP|TEMP|LANG|LC_[A-Z]+|TZ|XDG_[A-Z_]+|SSH_AUTH_SOCK|DOCKER_[A-Z_]+|AIRLOCK_[A-Z0-9_]+|SYSTEMROOT|COMSPEC|PATHEXT|WINDIR|APPDATA|LOCALAPPDATA|USERPROFILE)$/;

/**
 * The extension's one view of Airlock's state, shared by the Tasks and Approvals views, the status
 * bar and the commands: the engine connection and its TaskService, the core's TaskWatcher (engine
 * events plus the state folder) and ApprovalWatcher (the approvals folders). Everything here is
 * driven by their events; the only timer is the reconnect backoff while no engine answers.
 */
export class AirlockSession implements vscode.Disposable {
  private readonly tasksChanged = new vscode.EventEmitter<void>();
  private readonly approvalsChanged = new vscode.EventEmitter<void>();
  private readonly requested = new vscode.EventEmitter<ApprovalRequest>();
  private readonly engineChanged = new vscode.EventEmitter<EngineState>();
  /** A task started, changed or ended; the engine came or went. */
  readonly onDidChangeTasks = this.tasksChanged.event;
  /** A request was filed, decided or ran out of time. */
  readonly onDidChangeApprovals = this.approvalsChanged.event;
  /** A new request is waiting for a person (not fired for requests already on file at start). */
  readonly onDidRequest = this.requested.event;
  readonly onDidChangeEngine = this.engineChanged.event;

  readonly store: TaskStore;
  engine: EngineState = { kind: 'connecting' };
  private service: TaskService | undefined;
  private taskWatcher: TaskWatcher | undefined;
  private approvalWatcher: ApprovalWatcher | undefined;
  private connecting: Promise<TaskService> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MS.initial;
  /** Each allowlist task's gateway phase, asked when the task appears or changes. */
  private readonly phases = new Map<string, string>();
  /**
   * A watch of each live allowlist task's folder: the gateway's socket coming or going, and audit
   * records (a phase switch is one), make the phase be asked again; no timer asks it.
   */
  private readonly phaseWatches = new Map<string, { watch: fs.FSWatcher; timer?: NodeJS.Timeout }>();
  private disposed = false;
  private cached: TaskOverview[] | undefined;
  private readonly subscriptions: { dispose(): void }[] = [];

  /**
   * @param beforeConnect runs once, just before the first engine connection loads dockerode.js:
   * the extension preloads it from its code cache there.
   */
  constructor(readonly core: typeof Core, private readonly output: vscode.LogOutputChannel, private readonly extensionPath: string, private beforeConnect?: () => void) {
    this.store = new core.TaskStore(core.stateDir());
    // Registered first: the cache is dropped before any view redraws for the same event.
    this.subscriptions.push(this.tasksChanged.event(() => (this.cached = undefined)), this.approvalsChanged.event(() => (this.cached = undefined)));
  }

  /** Drops what the lists were built from, after this front end changed something itself (a fresh look). */
  invalidate(): void {
    this.cached = undefined;
    this.tasksChanged.fire();
  }

  /** Opens the approval watcher (no engine needed) and starts connecting to the engine. */
  async open(): Promise<void> {
    // The engine is tried whatever happens to the approvals watch, so the Tasks view never stays "connecting".
    try {
      await this.openApprovals();
    } finally {
      void this.connect().catch(() => undefined);
    }
  }

  /**
   * Starts the user's Airlock daemon (this extension's own CLI, detached) unless one is serving:
   * it mirrors host edits into tasks that asked for it and makes routed `airlock run` fast. A
   * second one started by a race sees the first and ends at once.
   */
  ensureDaemon(): void {
    const dir = path.join(this.store.root, 'daemon');
    try {
      const [pid] = fs.readFileSync(path.join(dir, 'pid'), 'utf8').split(' ');
      process.kill(Number(pid), 0);
      return;
    } catch {
      // none serving
    }
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const log = fs.openSync(path.join(dir, 'daemon.log'), 'a', 0o600);
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => GATEWAY_ENV.test(name)));
      spawn(process.execPath, [path.join(this.extensionPath, 'dist', 'cli.js'), 'daemon'], { detached: true, stdio: ['ignore', log, log], env: { ...env, ELECTRON_RUN_AS_NODE: '1', AIRLOCK_STATE_DIR: this.store.root } }).unref();
      fs.closeSync(log);
      this.output.info('started the Airlock daemon (host edits into tasks, routed commands)');
    } catch (error) {
      this.output.warn(`the Airlock daemon did not start: ${(error as Error).message}; host edits are not mirrored`);
    }
  }

  private async openApprovals(): Promise<void> {
    const watcher = await this.core.ApprovalWatcher.open(this.store);
    if (this.disposed) return watcher.dispose();
    this.approvalWatcher = watcher;
    this.subscriptions.push(
      watcher,
      watcher.onDidRequest(({ request }) => {
        this.output.info(`approval ${request.id}: task ${this.core.printableLine(request.task)} asks: ${this.core.printableLine(request.subject)}`);
        this.approvalsChanged.fire();
        this.requested.fire(request);
      }),
      watcher.onDidDecide(({ request, decision }) => {
        this.output.info(`approval ${request.id}: ${decision.decision} ${decision.scope} by ${this.core.printableLine(decision.by)}`);
        this.approvalsChanged.fire();
        this.tasksChanged.fire();
      }),
      watcher.onDidExpire(() => {
        this.approvalsChanged.fire();
        this.tasksChanged.fire();
      }),
    );
    this.approvalsChanged.fire();
  }

  /** The TaskService, connecting now if the engine is not connected (the error is the core's). */
  connect(): Promise<TaskService> {
    // Once connected, the TaskWatcher reconnects by itself after a loss; a command meanwhile gets the engine's own error.
    if (this.service) return Promise.resolve(this.service);
    return (this.connecting ??= this.tryConnect().finally(() => (this.connecting = undefined)));
  }

  private async tryConnect(): Promise<TaskService> {
    clearTimeout(this.retryTimer);
    this.beforeConnect?.();
    this.beforeConnect = undefined;
    const { core } = this;
    try {
      const engine = await core.connectEngine({ timeoutMs: 3000 });
      if (this.disposed) throw new core.CancelledError();
      // The gateway is Airlock's CLI started detached, from this extension's own bundle.
      const cli = path.join(this.extensionPath, 'dist', 'cli.js');
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => GATEWAY_ENV.test(name)));
      const gateway = core.detachedGatewayLauncher(this.store, [process.execPath, cli], { ...env, ELECTRON_RUN_AS_NODE: '1' });
      const service = new core.TaskService(engine, this.store, (message) => this.output.warn(core.printableLines(message)), { gateway });
      const watcher = await core.TaskWatcher.open(engine.docker, this.store);
      if (this.disposed) {
        watcher.dispose();
        service.dispose();
        throw new core.CancelledError();
      }
      this.service?.dispose();
      this.taskWatcher?.dispose();
      this.service = service;
      this.taskWatcher = watcher;
      // After a reboot (or a daemon that died) mirrored tasks get their mirror back.
      if (watcher.current().some((status) => !status.record.destroyedAt && (status.record.options as { mirrorHostEdits?: boolean }).mirrorHostEdits)) this.ensureDaemon();
      const changed = (id?: string) => {
        if (id) void this.askPhase(id);
        this.tasksChanged.fire();
      };
      this.subscriptions.push(
        watcher,
        watcher.onDidStart(({ id }) => changed(id)),
        watcher.onDidChange(({ id }) => changed(id)),
        watcher.onDidEnd(({ id, reason }) => {
          this.output.info(`task ${id} ended: ${core.printableLine(reason)}`);
          this.phases.delete(id);
          this.unwatchPhase(id);
          changed();
        }),
        watcher.onDidLoseEngine(({ error }) => {
          // Tasks idle when the engine goes are found again on their next use, not taken for ended.
          service.noteEngineLoss(watcher.current().filter((status) => status.state !== 'destroyed').map((status) => status.record.id), error);
          this.setEngine({ kind: 'unreachable', message: core.describeError(error).split('\n')[0], error });
        }),
        watcher.onDidRecoverEngine(() => {
          this.setEngine({ kind: 'connected', version: engine.version.Version });
          for (const status of watcher.current()) if (status.state !== 'destroyed') void this.askPhase(status.record.id);
        }),
      );
      this.retryMs = RETRY_MS.initial;
      // The watcher may have opened while the engine's stream did not (it retries by itself): say which.
      this.setEngine(watcher.engineConnected ? { kind: 'connected', version: engine.version.Version } : { kind: 'unreachable', message: 'the engine answered, but its event stream did not open', error: undefined });
      for (const status of watcher.current()) if (status.state !== 'destroyed') void this.askPhase(status.record.id);
      return service;
    } catch (error) {
      if (!this.disposed && !(error instanceof core.CancelledError)) {
        this.setEngine({ kind: 'unreachable', message: core.describeError(error).split('\n')[0], error });
        this.retryTimer = setTimeout(() => void this.connect().catch(() => undefined), this.retryMs);
        this.retryMs = Math.min(RETRY_MS.max, this.retryMs * 2);
      }
      throw error;
    }
  }

  private setEngine(state: EngineState): void {
    const was = this.engine.kind;
    this.engine = state;
    void vscode.commands.executeCommand('setContext', 'airlock.engine', state.kind);
    if (state.kind !== was) this.output[state.kind === 'unreachable' ? 'warn' : 'info'](state.kind === 'unreachable' ? `engine: ${this.core.printableLine(state.message)}` : `engine: ${state.kind}`);
    this.engineChanged.fire(state);
    this.tasksChanged.fire();
  }

  private watchPhase(id: string): void {
    if (this.phaseWatches.has(id) || this.disposed) return;
    try {
      const watch = fs.watch(this.store.taskDir(id), { persistent: false }, (_event, name) => {
        if (name !== 'gateway.sock' && name !== 'audit.jsonl') return;
        const entry = this.phaseWatches.get(id);
        if (!entry || entry.timer) return;
        entry.timer = setTimeout(() => {
          entry.timer = undefined;
          void this.askPhase(id);
        }, 250);
      });
      watch.on('error', () => this.unwatchPhase(id));
      this.phaseWatches.set(id, { watch });
    } catch {
      // the folder went away: the task's end event follows
    }
  }

  private unwatchPhase(id: string): void {
    const entry = this.phaseWatches.get(id);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.watch.close();
    this.phaseWatches.delete(id);
  }

  /** The network phase an allowlist task's gateway reports (setup, agent), or why it cannot. */
  private async askPhase(id: string): Promise<void> {
    const service = this.service;
    const record = this.store.load(id);
    // A task can have ended with nothing recorded (its TTL): the watcher's state decides, not the record.
    const live = this.taskWatcher?.current().some((status) => status.record.id === id && status.state !== 'destroyed');
    if (!service || !record || record.destroyedAt || !live || record.options.network !== 'allowlist') return this.unwatchPhase(id);
    this.watchPhase(id);
    const phase = await service.gatewayRequest(id, { op: 'status' }).then(
      (reply) => `${reply.phase} phase`,
      () => 'gateway down',
    );
    if (this.phases.get(id) === phase) return;
    this.phases.set(id, phase);
    this.tasksChanged.fire();
  }

  phaseOf(id: string): string | undefined {
    return this.phases.get(id);
  }

  /** Every known task, as the watcher last saw it; before any engine answered, the records with their saved state. */
  statuses(): TaskStatus[] {
    if (this.taskWatcher) return this.taskWatcher.current();
    return this.store.all().map((record) => ({ record, state: 'destroyed' as const })).filter(({ record }) => record.destroyedAt);
  }

  /**
   * Every task as the lists show it. Built once per change (each reads the task's newest change
   * set from disk) and dropped on the next task or approval event; TTL left is as of building, so
   * the views compute their countdowns from `expiresAt`.
   */
  overviews(): TaskOverview[] {
    if (!this.cached) {
      const pending = this.pending();
      this.cached = this.statuses().map((status) => this.core.taskOverview(this.store, status, pending));
    }
    return this.cached;
  }

  overview(id: string): TaskOverview | undefined {
    return this.overviews().find((task) => task.id === id);
  }

  pending(): ApprovalRequest[] {
    return this.approvalWatcher?.pending() ?? [];
  }

  /** The live task for a workspace folder: the newest running one copied from it. */
  taskFor(folder: string): TaskOverview | undefined {
    return this.core.liveAndRecent(this.overviews()).live.find((task) => task.workspace === folder && task.state === 'running');
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retryTimer);
    for (const id of [...this.phaseWatches.keys()]) this.unwatchPhase(id);
    for (const subscription of this.subscriptions.splice(0)) subscription.dispose();
    this.service?.dispose();
    for (const emitter of [this.tasksChanged, this.approvalsChanged, this.requested, this.engineChanged]) emitter.dispose();
  }
}
