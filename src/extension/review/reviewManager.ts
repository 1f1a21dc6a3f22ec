import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ApprovalRequest, ChangeService, FilesWatch, TaskReview } from '../../core/index.js';
import type { AirlockSession } from '../session/airlockSession.js';
import { noticeText } from '../ui/noticeText.js';
import { ReviewControl } from './reviewControl.js';
import { ReviewDecorations } from './reviewDecorations.js';
import type { ReviewFileSystem } from './reviewFileSystem.js';
import { reviewUri } from './reviewUris.js';

/** Box activity settles for this long before the review looks at the box again. */
const BOX_SETTLE_MS = 1500;
/** Host saves settle for this long before the review checks them for conflicts. */
const HOST_SETTLE_MS = 300;

interface OpenReview {
  key: string;
  review: TaskReview;
  control: ReviewControl;
  disposables: vscode.Disposable[];
  /** Set while the box's activity waits to be looked at, or a look runs. */
  boxTimer?: NodeJS.Timeout;
  looking?: Promise<void>;
  lookAgain?: boolean;
  hostPaths: Set<string>;
  hostTimer?: NodeJS.Timeout;
  /** The host's copies of the review's files; files the box adds later are added to it. */
  watchHost?: FilesWatch;
}

/**
 * The open reviews: each task's own (saved with the task, so it reopens after a reload) and any
 * review of an agent's apply request. It keeps each one current without opening anything: when the
 * box runs commands (its audit log grows) it looks again and marks what changed; when the host
 * changes a file under review it checks it for conflicts.
 */
export class ReviewManager implements vscode.Disposable {
  private readonly reviews = new Map<string, OpenReview>();
  /** A conflict's marked text (for editors without a merge view), by key and path. */
  private readonly marked = new Map<string, Buffer>();
  readonly decorations: ReviewDecorations;
  private readonly opened = new vscode.EventEmitter<void>();
  /** A review opened or closed. */
  readonly onDidChangeReviews = this.opened.event;
  private readonly subscriptions: vscode.Disposable[] = [];
  private restored = false;

  /** Reviews being opened, so a restored editor and the restore itself open one, not two. */
  private readonly opening = new Map<string, Promise<OpenReview>>();

  /** `files` is registered at activation (restored editors ask it first); this fills it in. */
  constructor(private readonly session: AirlockSession, private readonly output: vscode.LogOutputChannel, readonly files: ReviewFileSystem) {
    this.decorations = new ReviewDecorations((key) => this.review(key));
    this.subscriptions.push(
      this.decorations,
      this.opened,
      session.onDidChangeEngine((state) => {
        if (state.kind === 'connected') void this.restore();
      }),
      session.onDidChangeTasks(() => this.closeEnded()),
    );
  }

  review(key: string): TaskReview | undefined {
    return this.reviews.get(key)?.review;
  }

  /** Every open review, the task's own first. */
  all(): Array<{ key: string; review: TaskReview }> {
    return [...this.reviews.values()].sort((a, b) => Number(a.review.readOnly) - Number(b.review.readOnly)).map(({ key, review }) => ({ key, review }));
  }

  markedText(key: string, file: string): Buffer | undefined {
    return this.marked.get(`${key}\n${file}`);
  }

  /**
   * The review a document names, opening the task's saved one when it is not open yet (an editor
   * restored after a reload). A request's review is opened from Approvals only.
   */
  async ensure(key: string): Promise<TaskReview | undefined> {
    const open = this.reviews.get(key);
    if (open) return open.review;
    if (!/^[0-9a-f]{6,64}$/.test(key) || !fs.existsSync(this.session.store.changeFiles(key).reviewFile)) return undefined;
    try {
      return (await this.openTask(key)).review;
    } catch (error) {
      this.output.warn(`review of task ${key} could not be reopened: ${this.session.core.describeError(error).split('\n')[0]}`);
      return undefined;
    }
  }

  keyOf(scm: unknown): string | undefined {
    return [...this.reviews.values()].find((entry) => entry.control.scm === scm)?.key;
  }

  async changeService(): Promise<ChangeService> {
    return new this.session.core.ChangeService(await this.session.connect());
  }

  /** The task's own review: the open one, the saved one, or a fresh look at the box. */
  async openTask(task: string, options: { fresh?: boolean; signal?: AbortSignal } = {}): Promise<OpenReview> {
    const open = this.reviews.get(task);
    if (open && !options.fresh) return open;
    const pending = this.opening.get(task);
    if (pending && !options.fresh) return pending;
    const opening = (async () => {
      const service = await this.changeService();
      const review = await this.session.core.TaskReview.open(service, task, options);
      if (this.reviews.has(review.task.id)) this.close(review.task.id);
      return this.add(review.task.id, review, `Airlock: ${this.taskName(review)}`);
    })();
    this.opening.set(task, opening);
    try {
      return await opening;
    } finally {
      this.opening.delete(task);
    }
  }

  /** A read-only review of exactly what an agent's apply request names. */
  async openRequest(request: ApprovalRequest): Promise<OpenReview> {
    const key = `${request.task}@${request.id}`;
    const open = this.reviews.get(key);
    if (open) return open;
    const review = this.session.core.TaskReview.forRequest(await this.changeService(), request);
    return this.add(key, review, `Airlock: ${this.taskName(review)}: request ${request.id}`);
  }

  private taskName(review: TaskReview): string {
    return noticeText(this.session.core, `${path.basename(review.task.workspace)} · ${review.task.id}`);
  }

  private add(key: string, review: TaskReview, label: string): OpenReview {
    const control = new ReviewControl(this.session.core, key, review, label);
    const entry: OpenReview = { key, review, control, disposables: [], hostPaths: new Set() };
    entry.disposables.push(
      review.onDidChange(({ paths }) => {
        const changed = paths ?? review.items().map((item) => item.path);
        this.files.contentChanged(key, changed);
        this.decorations.refresh(changed.map((file) => reviewUri({ key, side: 'proposed', path: file })));
      }),
    );
    if (!review.readOnly) {
      this.watchBox(entry);
      this.watchHost(entry);
    }
    this.reviews.set(key, entry);
    this.opened.fire();
    // Conflicts need the host's files: checked after the rows are drawn, once. A review that
    // watches the host checks when its watch is up (watchHost), which also covers the edits made
    // before it was.
    if (review.readOnly) setImmediate(() => this.checkHost(entry));
    return entry;
  }

  /** The box ran something (its audit log grew): look again once it settles, one look at a time. */
  private watchBox(entry: OpenReview) {
    try {
      const watch = fs.watch(this.session.store.taskDir(entry.review.task.id), { persistent: false }, (_event, name) => {
        if (name !== 'audit.jsonl' || entry.boxTimer) return;
        entry.boxTimer = setTimeout(() => {
          entry.boxTimer = undefined;
          void this.lookAgain(entry);
        }, BOX_SETTLE_MS);
      });
      watch.on('error', () => watch.close());
      entry.disposables.push(new vscode.Disposable(() => {
        clearTimeout(entry.boxTimer);
        watch.close();
      }));
    } catch {
      // The task's folder is gone: its end closes the review.
    }
  }

  async lookAgain(entry: OpenReview): Promise<string[]> {
    if (entry.looking) {
      entry.lookAgain = true;
      await entry.looking;
      return [];
    }
    let changed: string[] = [];
    entry.looking = (async () => {
      try {
        changed = await entry.review.refresh();
        entry.watchHost?.add(entry.review.items().map((item) => item.path));
        if (changed.length) {
          this.output.info(`review of task ${entry.review.task.id}: ${changed.length} file(s) changed in the task since the review showed them: ${changed.map((file) => this.session.core.printableLine(file)).join(', ')}`);
          this.checkHost(entry, changed);
          void vscode.window
            .showInformationMessage(`Airlock: ${changed.length} file(s) changed in task ${entry.review.task.id} since the review showed them. They are marked, and left out of Apply until you look at them.`, 'Show Review')
            .then((choice) => choice && vscode.commands.executeCommand('workbench.view.scm'));
        }
      } catch (error) {
        this.output.warn(`review of task ${entry.review.task.id}: could not look at the box again: ${this.session.core.describeError(error).split('\n')[0]}`);
      }
    })();
    await entry.looking;
    entry.looking = undefined;
    if (entry.lookAgain) {
      entry.lookAgain = false;
      void this.lookAgain(entry);
    }
    return changed;
  }

  /**
   * The host's copies of files under review: a change there is checked for conflicts once saves
   * settle. The review's own watch, not the editor's file events: those come from a workspace
   * watcher that starts in its own time after a reload (a save in between was never seen) and
   * skips what the user's `files.watcherExclude` leaves out. The review's first check against the
   * host runs once the watch is up, so a change made before it is caught too.
   */
  private watchHost(entry: OpenReview) {
    const changed = (rel: string) => {
      if (!entry.review.item(rel)) return;
      entry.hostPaths.add(rel);
      clearTimeout(entry.hostTimer);
      entry.hostTimer = setTimeout(() => {
        const paths = [...entry.hostPaths];
        entry.hostPaths.clear();
        this.checkHost(entry, paths);
      }, HOST_SETTLE_MS);
    };
    const watch = this.session.core.watchFiles(entry.review.task.workspace, entry.review.items().map((item) => item.path), changed);
    watch.ready.then(
      () => this.checkHost(entry),
      (error: unknown) => {
        this.output.warn(`review of task ${entry.review.task.id}: cannot watch the workspace for edits; later ones show when you apply: ${this.session.core.describeError(error).split('\n')[0]}`);
        this.checkHost(entry);
      },
    );
    entry.watchHost = watch;
    entry.disposables.push(new vscode.Disposable(() => {
      clearTimeout(entry.hostTimer);
      void watch.close();
    }));
  }

  checkHost(entry: OpenReview, paths?: readonly string[]): void {
    if (!this.reviews.has(entry.key)) return;
    try {
      entry.review.checkHost(paths);
    } catch (error) {
      this.output.warn(`review of task ${entry.review.task.id}: could not check the workspace for conflicts: ${this.session.core.describeError(error).split('\n')[0]}`);
    }
  }

  /** Keeps a conflict's marked text for the fallback view, until the review closes. */
  setMarked(key: string, file: string, text: Buffer): void {
    this.marked.set(`${key}\n${file}`, text);
    this.files.contentChanged(key, [file]);
  }

  /** Reopens the saved reviews of running tasks once the engine answers (after a reload, say). */
  private async restore(): Promise<void> {
    if (this.restored) return;
    this.restored = true;
    for (const task of this.session.core.liveAndRecent(this.session.overviews()).live) {
      if (task.state !== 'running' || !fs.existsSync(this.session.store.changeFiles(task.id).reviewFile)) continue;
      try {
        await this.openTask(task.id);
        this.output.info(`review of task ${task.id} reopened with its saved choices`);
      } catch (error) {
        this.output.warn(`review of task ${task.id} could not be reopened: ${this.session.core.describeError(error).split('\n')[0]}`);
      }
    }
  }

  /** A review of a task that has ended cannot be applied any more (its base snapshot is gone): it closes, saying so. */
  private closeEnded(): void {
    for (const entry of [...this.reviews.values()]) {
      const task = this.session.overview(entry.review.task.id);
      if (task && task.state === 'running') continue;
      if (!task && this.session.engine.kind !== 'connected') continue;
      this.close(entry.key);
      this.output.info(`review of task ${entry.review.task.id} closed: the task ended`);
      void vscode.window.showInformationMessage(`Airlock: task ${entry.review.task.id} ended, so its review closed. Applies made from it stay on the host (Undo Last Apply still works).`);
    }
  }

  /** Closes a review's view; `end` also drops its saved choices and edits. */
  close(key: string, { end = false } = {}): void {
    const entry = this.reviews.get(key);
    if (!entry) return;
    this.reviews.delete(key);
    // Its documents' versions move on, so a later review under the same key is read afresh.
    this.files.contentChanged(key, entry.review.items().map((item) => item.path));
    for (const disposable of entry.disposables.splice(0)) disposable.dispose();
    entry.control.dispose();
    if (end) entry.review.end();
    else entry.review.dispose();
    for (const name of [...this.marked.keys()]) if (name.startsWith(`${key}\n`)) this.marked.delete(name);
    this.opened.fire();
  }

  entry(key: string): OpenReview | undefined {
    return this.reviews.get(key);
  }

  dispose(): void {
    for (const key of [...this.reviews.keys()]) this.close(key);
    for (const subscription of this.subscriptions.splice(0)) subscription.dispose();
  }
}

export type { OpenReview };
