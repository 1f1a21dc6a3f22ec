import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { containerInspectSchema } from '../engine/engineSchemas.js';
import { AirlockError, CancelledError } from '../ground/errors.js';
import { Emitter, type Disposable, type Event } from '../ground/events.js';
import { lockBase, moveBase } from '../snapshot/baseUpdate.js';
import { listingRules, type ListingRules } from '../snapshot/listingRules.js';
import { BaseSnapshot, type ManifestEntry } from '../snapshot/snapshotManifest.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskStore } from '../state/taskStore.js';
import type { TaskService } from '../task/taskService.js';
import { ChangeSetStore } from './changeSetStore.js';
import { type BoxState, MirrorBox, taskGone } from './mirrorBox.js';
import { readHostViews, statStamp } from './mirrorHost.js';
import { dropFailedRemovals, type MirrorPlan, mirrorCandidates, type MirrorSkipReason, planMirror } from './mirrorPlan.js';
import { watchWorkspace, type WorkspaceWatch } from './workspaceWatch.js';

export type { MirrorSkipReason } from './mirrorPlan.js';

/**
 * What the mirror did, batch by batch. `synced`: the host's state of these paths is now the
 * box's and the base's. `conflict`: the box changed them too; both sides keep their own and the
 * review settles it. `skipped`: never carried (secrets and what the listing leaves out: paths
 * only, never contents). `error`: a batch failed (nothing of it is in the base). `stopped`: the
 * mirror has ended (the task ended, or it was disposed).
 */
export type HostMirrorEvent =
  | { kind: 'synced'; paths: string[] }
  | { kind: 'conflict'; paths: string[] }
  | { kind: 'skipped'; paths: string[]; reason: MirrorSkipReason }
  | { kind: 'error'; message: string; code?: string }
  | { kind: 'stopped'; reason: string };

export interface HostMirrorOptions {
  /** Aborting stops the mirror, as `dispose` does. */
  signal?: AbortSignal;
  /** Subscribed before the first event, so none is missed. */
  onEvent?: (event: HostMirrorEvent) => void;
  /** How long a burst of host changes may keep growing before it is carried (ms). */
  debounceMs?: number;
  /** Stat polling instead of the OS's notifications (network file systems). */
  polling?: boolean;
}

export interface HostMirror extends Disposable {
  readonly task: string;
  readonly onEvent: Event<HostMirrorEvent>;
  readonly stopped: boolean;
  /**
   * Resolves once every host change seen so far has been carried (or reported as a conflict, a
   * skip or an error), and at once when the mirror has stopped. A write made just before the call
   * is seen: the watcher's queue is given a moment first.
   */
  idle(): Promise<void>;
  /** Resolves when the mirror has stopped and no batch is in flight any more. */
  readonly closed: Promise<void>;
}

const DEBOUNCE_MS = 50;
/** A steady stream of changes still goes in at least this often. */
const MAX_WAIT_MS = 200;
/** How long `idle` lets the OS's queued notifications reach the watcher. */
const IDLE_SETTLE_MS = 30;
/**
 * How long after the watcher last heard anything `idle` waits before it trusts that nothing more
 * is on its way: a new folder is read (and its files reported) only after its own notification.
 */
const QUIET_MS = 100;
/**
 * chokidar drops a second change of one file within 50 ms of the first; a file read sooner than
 * that after its first change is looked at again this much later.
 */
const RECHECK_MS = 100;
const MAX_BATCH_PATHS = 2000;
/** Entries read from one new folder at once; chokidar still reports any beyond. */
const MAX_FOLDER_SCAN = 100_000;
const MAX_BATCH_BYTES = 128 * 1024 * 1024;
const LIVENESS_MS = 5000;
const STOP_GRACE_MS = 5000;
/** Host clocks and file system timestamps differ by a little: files changed this close before the start are looked at again. */
const START_SLACK_MS = 2000;

const secretPatternsSchema = z.array(z.string());

/** Errors after which no batch can succeed: the mirror stops instead of failing every batch. */
const FATAL = new Set(['task.gone', 'task.expired', 'mirror.boxToolsMissing', 'mirror.workspaceGone']);

const uidGid = (user: string) => {
  const [uid, gid] = user.split(':');
  return { uid: Number(uid), gid: Number(gid ?? uid) };
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The box holds what a base entry is meant to be (after a write that may not have landed). */
function landed(state: BoxState | undefined, entry: Omit<ManifestEntry, 'path' | 'offset'> | undefined): boolean {
  if (!entry) return state?.kind === 'absent';
  if (entry.type === 'file') return state?.kind === 'file' && state.sha256 === entry.sha256 && ((state.mode & 0o111) !== 0) === ((entry.mode & 0o111) !== 0);
  if (entry.type === 'symlink') return state?.kind === 'symlink' && state.target === entry.target;
  return state?.kind === 'dir';
}

/**
 * Follows a live task's host workspace and carries the host's edits, additions, removals and
 * renames into the box's /workspace, so commands run there see what host-side tools just wrote.
 * The snapshot's rules decide what crosses (secrets, credential-bearing configs, ignored files and
 * .git never do), the box's own changes are never overwritten (a path the box changed too is a
 * conflict, left for the review), and the base snapshot moves forward for every carried path so
 * the review shows only what the box's own commands changed.
 *
 * Resolves once the watch is ready; changes the host made since the task's copy are carried then.
 */
export async function startHostMirror(service: TaskService, taskId: string, options: HostMirrorOptions = {}): Promise<HostMirror> {
  const record = await service.live(taskId);
  const patterns = secretPatternsSchema.safeParse(record.options.secretFilePatterns);
  if (!patterns.success) {
    throw new AirlockError(`task ${record.id} has no secret-file rules on record, so nothing can be judged safe to carry`, { code: 'mirror.noSecretRules', hint: 'Start a new task.', field: 'ID', actions: [{ kind: 'startTask' }] });
  }
  const rules = await listingRules(record.workspace, patterns.data, options.signal);
  const run = new MirrorRun(service, record, rules, options);
  try {
    await run.start();
  } catch (error) {
    run.dispose();
    throw error;
  }
  return run;
}

class MirrorRun implements HostMirror {
  readonly task: string;
  private readonly emitter = new Emitter<HostMirrorEvent>();
  readonly onEvent = this.emitter.event;
  private readonly store: TaskStore;
  private readonly files: ReturnType<TaskStore['snapshotFiles']>;
  private readonly box: MirrorBox;
  private readonly abort = new AbortController();
  private watch?: WorkspaceWatch;
  private readonly dirty = new Set<string>();
  private timer?: NodeJS.Timeout;
  private firstPendingAt = 0;
  private running?: Promise<void>;
  private readonly rechecks = new Map<string, string>();
  private recheckTimer?: NodeJS.Timeout;
  private livenessTimer?: NodeJS.Timeout;
  private ttlTimer?: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];
  private isStopped = false;
  private lastActivityAt = 0;
  private readonly newFolders = new Set<string>();
  private rescanTimer?: NodeJS.Timeout;
  private rootId?: { ino: number; dev: number };
  private ready = false;
  private readonly seen = new Set<string>();
  private startBase?: BaseSnapshot;
  private resolveClosed!: () => void;
  readonly closed = new Promise<void>((resolve) => (this.resolveClosed = resolve));

  constructor(
    private readonly service: TaskService,
    private readonly record: TaskRecord,
    private readonly rules: ListingRules,
    private readonly options: HostMirrorOptions,
  ) {
    this.task = record.id;
    this.store = service.store;
    this.files = this.store.snapshotFiles(record.id);
    this.box = new MirrorBox(service.engine.docker.getContainer(record.containerId), record.user, uidGid(record.user), record.id);
    if (options.onEvent) this.emitter.event(options.onEvent);
    const signal = options.signal;
    if (signal?.aborted) this.abort.abort();
    else signal?.addEventListener('abort', () => this.dispose(), { once: true });
  }

  get stopped(): boolean {
    return this.isStopped;
  }

  async start(): Promise<void> {
    if (this.abort.signal.aborted) throw new CancelledError();
    try {
      this.startBase = BaseSnapshot.load(this.files.manifestFile);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw taskGone(this.task);
      throw error;
    }
    const root = this.record.workspace;
    const stat = fs.statSync(root);
    this.rootId = { ino: stat.ino, dev: stat.dev };
    this.watch = watchWorkspace(
      root,
      {
        skip: (rel, isDir) => this.rules.unwatched(rel, isDir),
        polling: this.options.polling,
        onFallback: (error) => this.fire({ kind: 'error', message: `the host's file notifications ran out (${error.code}); following the workspace by polling`, code: 'mirror.polling' }),
        onError: (error) => this.fire({ kind: 'error', message: `watching the workspace failed: ${error.message}`, code: 'mirror.watchFailed' }),
        onActivity: () => (this.lastActivityAt = Date.now()),
      },
      (change, rel, initial) => this.heard(change, rel, initial),
    );
    await this.watch.ready;
    this.ready = true;
    // What the copy had that the first look did not find was removed on the host since.
    for (const entry of this.startBase.manifest.entries) if (!this.seen.has(entry.path)) this.mark(entry.path);
    this.seen.clear();
    this.startBase = undefined;
    if (this.dirty.size) this.schedule();
    this.livenessTimer = setInterval(() => void this.checkAlive(), LIVENESS_MS);
    this.livenessTimer.unref?.();
    const ttl = Date.parse(this.record.expiresAt) - Date.now();
    const expired = new AirlockError(`task ${this.task} reached its time to live`, { code: 'task.expired', hint: 'Start a new task, with a longer time to live if needed.', field: 'ID', actions: [{ kind: 'startTask' }, { kind: 'changeSetting', setting: 'ttlSeconds' }] });
    this.ttlTimer = setTimeout(() => this.stop(expired.message, expired), Math.max(0, Math.min(ttl, 2 ** 31 - 1)));
    this.ttlTimer.unref?.();
    this.checkIdle();
  }

  private heard(change: string, rel: string, initial: boolean): void {
    if (this.isStopped) return;
    this.lastActivityAt = Date.now();
    if (rel === '.gitignore') this.rules.reload();
    if (!initial || !this.startBase) {
      this.mark(rel);
      if (change === 'addDir') this.newFolder(rel);
      return;
    }
    // The first look: only what changed since the copy is carried (a changed file has a new ctime).
    this.seen.add(rel);
    const entry = this.startBase.entries.get(rel);
    try {
      const stat = fs.lstatSync(path.join(this.record.workspace, rel));
      const since = Date.parse(this.record.createdAt) - START_SLACK_MS;
      const kind = stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'symlink' : stat.isFile() ? 'file' : 'other';
      if (kind === 'dir') {
        if (entry && entry.type !== 'dir') this.mark(rel);
        return;
      }
      const differs = !entry || entry.type !== kind || stat.ctimeMs >= since || (kind === 'file' && (stat.size !== entry.size || ((stat.mode & 0o111) !== 0) !== ((entry.mode & 0o111) !== 0)));
      if (differs) this.mark(rel);
    } catch {
      this.mark(rel);
    }
  }

  /**
   * chokidar reports the files of a new folder only once it has read the folder, which in a burst
   * comes long after the folder's own notification: the mirror reads it at once, and again a
   * little later for files written while the watch was being set up, so `idle` covers them.
   */
  private newFolder(rel: string): void {
    this.scanFolder(rel);
    this.newFolders.add(rel);
    if (this.rescanTimer) return;
    this.rescanTimer = setTimeout(() => {
      this.rescanTimer = undefined;
      const folders = [...this.newFolders];
      this.newFolders.clear();
      for (const folder of folders) this.scanFolder(folder);
      this.checkIdle();
    }, RECHECK_MS);
  }

  private scanFolder(rel: string): void {
    const root = this.record.workspace;
    let budget = MAX_FOLDER_SCAN;
    const visit = (dir: string) => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(path.join(root, dir), { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries) {
        if (--budget < 0) return;
        const child = `${dir}/${entry.name}`;
        const isDir = entry.isDirectory();
        if (this.rules.unwatched(child, isDir)) continue;
        this.mark(child);
        if (isDir) visit(child);
      }
    };
    visit(rel);
  }

  private mark(rel: string): void {
    if (this.isStopped || !rel) return;
    this.dirty.add(rel);
    if (!this.ready) return;
    this.schedule();
  }

  private schedule(): void {
    const now = Date.now();
    if (!this.timer) this.firstPendingAt = now;
    else clearTimeout(this.timer);
    const debounce = this.options.debounceMs ?? DEBOUNCE_MS;
    const delay = Math.max(0, Math.min(debounce, this.firstPendingAt + MAX_WAIT_MS - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delay);
  }

  private flush(): void {
    if (this.running || this.isStopped) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if (this.isStopped) this.resolveClosed();
      this.checkIdle();
    });
  }

  private async drain(): Promise<void> {
    while (!this.isStopped && this.dirty.size && !this.timer) {
      const batch = [...this.dirty].slice(0, MAX_BATCH_PATHS);
      for (const rel of batch) this.dirty.delete(rel);
      try {
        await this.sync(batch);
      } catch (error) {
        this.failed(error);
      }
    }
  }

  private failed(error: unknown): void {
    if (CancelledError.is(error) || this.isStopped) return;
    if (AirlockError.is(error) && FATAL.has(error.code)) {
      this.stop(error.message, error);
      return;
    }
    const message = (error as Error).message ?? String(error);
    this.store.audit(this.task).append({ type: 'mirror', task: this.task, synced: [], conflicts: [], skipped: [], error: message, ms: 0 });
    this.fire({ kind: 'error', message: `carrying host edits into the box failed: ${message}`, code: AirlockError.is(error) ? error.code : 'mirror.failed' });
  }

  /** One batch: read the host, ask the box, write what the box never touched, move the base, report. */
  private async sync(batch: string[]): Promise<void> {
    const started = Date.now();
    const signal = this.abort.signal;
    let release: () => void;
    try {
      release = await lockBase(this.files.manifestFile, signal);
    } catch (error) {
      if (AirlockError.is(error) && error.code === 'task.gone') throw taskGone(this.task);
      throw error;
    }
    try {
      this.assertSameWorkspace();
      let base: BaseSnapshot;
      try {
        base = BaseSnapshot.load(this.files.manifestFile);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw taskGone(this.task);
        throw error;
      }
      if (!fs.existsSync(base.manifest.contentFile)) throw taskGone(this.task);
      const paths = this.withRemovedFolders(batch, base);
      const read = await readHostViews(this.record.workspace, paths, this.rules, { maxBatchBytes: MAX_BATCH_BYTES, signal });
      const deferred = new Set(read.deferred);
      for (const rel of deferred) this.dirty.add(rel);
      const { candidates, probe, skipped } = mirrorCandidates(paths.filter((rel) => !deferred.has(rel)), read.views, base.entries);
      let plan: MirrorPlan | undefined;
      let unlanded: string[] = [];
      if (candidates.length) {
        const box = await this.box.probe(probe, signal);
        plan = planMirror({ candidates, host: read.views, base: base.entries, box, skipped });
        if (plan.removals.length) dropFailedRemovals(plan, await this.box.remove(plan.removals, signal));
        unlanded = await this.write(plan, signal);
        const inodes = await this.folderInodes(plan, signal);
        if (plan.moves.size) {
          moveBase(this.files.manifestFile, [...plan.moves.values()]);
          this.recordFolders(plan, base, inodes);
          this.dropStaleChangeSets(new Set(plan.moves.keys()));
        }
      }
      for (const [rel, stamp] of read.stamps) this.rechecks.set(rel, stamp);
      this.scheduleRecheck();
      this.report(plan, skipped, unlanded, base, Date.now() - started);
    } finally {
      release();
    }
  }

  /**
   * A workspace folder that was removed, moved away or replaced looks like every file was
   * deleted: that must not empty the box. The mirror stops instead.
   */
  private assertSameWorkspace(): void {
    const now = fs.statSync(this.record.workspace, { throwIfNoEntry: false });
    if (now?.isDirectory() && now.ino === this.rootId?.ino && now.dev === this.rootId.dev) return;
    throw new AirlockError(`workspace: ${this.record.workspace} is gone or is another folder now; host edits are no longer carried into task ${this.task}`, { code: 'mirror.workspaceGone', hint: 'Put the workspace folder back, then follow it again.', field: 'workspace' });
  }

  /** A folder removed (or made a file) on the host takes everything the base had below it along. */
  private withRemovedFolders(batch: readonly string[], base: BaseSnapshot): string[] {
    const removed = batch.filter((rel) => {
      if (base.entries.get(rel)?.type !== 'dir') return false;
      const stat = fs.lstatSync(path.join(this.record.workspace, rel), { throwIfNoEntry: false });
      return !stat?.isDirectory();
    });
    if (!removed.length) return [...batch];
    const out = new Set(batch);
    const prefixes = removed.map((rel) => `${rel}/`);
    for (const entry of base.manifest.entries) if (prefixes.some((prefix) => entry.path.startsWith(prefix))) out.add(entry.path);
    return [...out];
  }

  /**
   * Writes the plan's archive. When the engine refused it part-way (the box put a folder where a
   * file goes meanwhile, say), the box is asked what landed, and only that moves the base.
   */
  private async write(plan: MirrorPlan, signal: AbortSignal): Promise<string[]> {
    if (!plan.writes.length) return [];
    try {
      await this.box.write(plan.writes, signal);
      return [];
    } catch (error) {
      if (CancelledError.is(error) || (AirlockError.is(error) && error.code === 'task.gone')) throw error;
      const written = plan.writes.map((entry) => entry.path);
      const now = await this.box.probe(written, signal);
      const unlanded = written.filter((rel) => plan.moves.has(rel) && !landed(now.get(rel), plan.moves.get(rel)!.entry));
      for (const rel of unlanded) plan.moves.delete(rel);
      plan.synced = plan.synced.filter((rel) => !unlanded.includes(rel));
      return unlanded;
    }
  }

  /** The inode of each folder the archive made, for the scanner's check that a folder is still the one the base knows. */
  private async folderInodes(plan: MirrorPlan, signal: AbortSignal): Promise<Map<string, string>> {
    const out = new Map(plan.knownFolders);
    if (!plan.newFolders.length || !this.store.folderInodes(this.task)) return out;
    const states = await this.box.probe(plan.newFolders, signal);
    for (const dir of plan.newFolders) {
      const state = states.get(dir);
      if (state?.kind === 'dir') out.set(dir, state.ino);
    }
    return out;
  }

  /**
   * Tasks without a folder record (images without node) are scanned by archive and keep none.
   * A folder that went loses its record; one that came gains it.
   */
  private recordFolders(plan: MirrorPlan, base: BaseSnapshot, inodes: ReadonlyMap<string, string>): void {
    const known = this.store.folderInodes(this.task);
    if (!known) return;
    for (const move of plan.moves.values()) if (move.entry?.type !== 'dir' && base.entries.get(move.path)?.type === 'dir') known.delete(move.path);
    for (const [dir, ino] of inodes) if (plan.moves.get(dir)?.entry?.type === 'dir' || base.entries.get(dir)?.type === 'dir') known.set(dir, ino);
    this.store.saveFolderInodes(this.task, known);
  }

  /**
   * A kept change set that names a path whose base moved describes it against a base that is no
   * longer the manifest's: read with today's base it would show (and merge from) the wrong bytes.
   * It goes; a review that held it takes a fresh look.
   */
  private dropStaleChangeSets(moved: ReadonlySet<string>): void {
    const changeSets = new ChangeSetStore(this.store.changeFiles(this.task).changeSetDir);
    for (const changeSet of changeSets.all()) {
      if (changeSet.files.some((change) => moved.has(change.path) || (change.oldPath !== undefined && moved.has(change.oldPath)))) changeSets.remove(changeSet.id);
    }
  }

  private report(plan: MirrorPlan | undefined, skipped: Map<MirrorSkipReason, string[]>, unlanded: string[], base: BaseSnapshot, ms: number): void {
    const synced = plan?.synced ?? [];
    const conflicts = plan?.conflicts ?? [];
    const action = (rel: string): { path: string; action: string; sha256?: string } => {
      const entry = plan!.moves.get(rel)?.entry;
      if (!entry) return { path: rel, action: base.entries.get(rel)?.type === 'dir' ? 'rmdir' : 'delete' };
      if (entry.type === 'file') return { path: rel, action: 'write', sha256: entry.sha256 };
      return { path: rel, action: entry.type === 'dir' ? 'mkdir' : 'symlink' };
    };
    const skips = [...skipped].flatMap(([reason, rels]) => rels.map((rel) => ({ path: rel, reason })));
    // Ignored files change all the time (logs, build output): the log records what could matter.
    const worthLogging = synced.length || conflicts.length || unlanded.length || skips.some((skip) => skip.reason !== 'ignored');
    if (worthLogging) {
      this.store.audit(this.task).append({
        type: 'mirror',
        task: this.task,
        synced: synced.map(action),
        conflicts,
        skipped: skips,
        ...(unlanded.length ? { error: `the engine did not write ${unlanded.length} path(s): ${unlanded.slice(0, 5).join(', ')}` } : {}),
        ms,
      });
    }
    if (synced.length) this.fire({ kind: 'synced', paths: synced });
    if (conflicts.length) this.fire({ kind: 'conflict', paths: conflicts });
    for (const [reason, rels] of skipped) if (rels.length) this.fire({ kind: 'skipped', paths: rels, reason });
    if (unlanded.length) this.fire({ kind: 'error', message: `the engine did not write ${unlanded.length} path(s) into the box; they stay as the box has them`, code: 'mirror.notWritten' });
  }

  private scheduleRecheck(): void {
    if (this.recheckTimer || !this.rechecks.size || this.isStopped) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      for (const [rel, stamp] of this.rechecks) {
        const stat = fs.lstatSync(path.join(this.record.workspace, rel), { throwIfNoEntry: false });
        if (!stat || statStamp(stat) !== stamp) this.mark(rel);
      }
      this.rechecks.clear();
      this.checkIdle();
    }, RECHECK_MS);
  }

  private async checkAlive(): Promise<void> {
    if (this.isStopped) return;
    try {
      const saved = this.store.load(this.task);
      if (saved?.destroyedAt) return this.stop(`task ${this.task} was destroyed (${saved.destroyReason ?? 'ended'})`, taskGone(this.task));
      const info = containerInspectSchema.parse(await this.service.engine.docker.getContainer(this.record.containerId).inspect());
      if (!info.State.Running) this.stop(`task ${this.task} is no longer running`, taskGone(this.task));
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404) this.stop(`task ${this.task} is no longer running (its container has gone)`, taskGone(this.task));
      // Anything else (the engine briefly unreachable) is asked again at the next tick.
    }
  }

  private fire(event: HostMirrorEvent): void {
    this.emitter.fire(event);
  }

  private busy(): boolean {
    return !this.ready || Boolean(this.timer || this.running || this.recheckTimer || this.rescanTimer) || this.dirty.size > 0;
  }

  private checkIdle(): void {
    if (this.isStopped || !this.busy()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  async idle(): Promise<void> {
    if (this.isStopped) return;
    await sleep(IDLE_SETTLE_MS);
    while (!this.isStopped) {
      const quietFor = Date.now() - this.lastActivityAt;
      if (quietFor < QUIET_MS) await sleep(QUIET_MS - quietFor);
      else if (this.busy()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      else return;
    }
  }

  private stop(reason: string, error?: AirlockError): void {
    if (this.isStopped) return;
    this.isStopped = true;
    // A batch in flight finishes (its writes and its base move belong together); one stuck in the box is cut off.
    setTimeout(() => this.abort.abort(), STOP_GRACE_MS).unref?.();
    if (error) this.fire({ kind: 'error', message: error.message, code: error.code });
    this.fire({ kind: 'stopped', reason });
    if (this.timer) clearTimeout(this.timer);
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    if (this.rescanTimer) clearTimeout(this.rescanTimer);
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    if (this.ttlTimer) clearTimeout(this.ttlTimer);
    this.timer = this.recheckTimer = this.rescanTimer = undefined;
    this.dirty.clear();
    this.rechecks.clear();
    void this.watch?.close();
    this.checkIdle();
    if (!this.running) this.resolveClosed();
    this.emitter.dispose();
  }

  dispose(): void {
    this.stop('stopped');
  }
}
