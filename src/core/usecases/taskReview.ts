import { AirlockError } from '../ground/errors.js';
import { formatByteSize } from '../ground/byteSize.js';
import { Emitter } from '../ground/events.js';
import { printableLine } from '../ground/printable.js';
import type { OnProgress } from '../ground/progress.js';
import type { ApprovalRequest } from '../approvals/approvalQueue.js';
import type { ApplyReport, ApplySelection, UndoReport } from '../changes/applyChanges.js';
import { changeIdentity, type FileChange, gitMode, type NodeState } from '../changes/changeSet.js';
import type { ChangeService, TaskChanges } from '../changes/changeService.js';
import type { ReviewChoice, ReviewState } from '../changes/reviewState.js';

/** The review's groups, in the order a reviewer meets them. */
export type ReviewGroup = 'conflicts' | 'risky' | 'changes' | 'never';

export interface ReviewItem {
  path: string;
  change: FileChange;
  group: ReviewGroup;
  /** What an apply now would take: the reviewer's choice, or the group's default. */
  taken: boolean;
  choice?: ReviewChoice;
  /** The reviewer replaced the box's bytes (reverted hunks, edited text). */
  edited: boolean;
  /** Changed in the box since the review first showed it; its old choice and edit were dropped. */
  refreshed: boolean;
  /** Why the host's copy stops this file (it changed there since the task started), when it does. */
  conflict?: string;
  /** The conflict is between texts a three-way merge can show. */
  mergeable: boolean;
  /** What kind of change this is, in one line: "binary, 12 B → 2.0 KB", "mode 100644 → 100755"… */
  what: string;
  /** Both sides are text a diff editor can show line by line. */
  textual: boolean;
  /** The proposed side may be edited in the review (a text file the task leaves, in a review the reviewer owns). */
  editable: boolean;
}

export interface ReviewApplyOutcome {
  report: ApplyReport;
  /** Paths that changed in the box since they were shown and were not taken (nobody has seen them yet). */
  refreshed: string[];
}

/** Whether the box shows a path the same way as before: what names a change set, per file. */
const changeKey = (change: FileChange) => JSON.stringify(changeIdentity(change));

function describeChange(change: FileChange): string {
  const parts: string[] = [];
  const { before, after } = change;
  if (change.status === 'renamed') parts.push(`renamed from ${change.oldPath}`);
  if (change.status === 'typechange') parts.push(`${before?.kind} → ${after?.kind}`);
  if (after?.kind === 'symlink') parts.push(`symlink → ${after.target}`);
  else if (before?.kind === 'symlink' && !after) parts.push(`symlink → ${before.target} removed`);
  if (change.binary) parts.push(`binary, ${before?.kind === 'file' ? formatByteSize(before.size) : 'new'} → ${after?.kind === 'file' ? formatByteSize(after.size) : 'deleted'}`);
  const oldMode = gitMode(before);
  const newMode = gitMode(after);
  if (before && after && oldMode !== newMode && before.kind === after.kind) parts.push(`mode ${oldMode} → ${newMode}`);
  if (!parts.length) parts.push(change.status);
  return printableLine(parts.join(', '));
}

/** A conflict a three-way merge can show: the host's own edit to a text file the task also edited. */
const mergeable = (item: ReviewItem, code: string | undefined) => code === 'conflict' && item.textual && item.change.before?.kind === 'file' && item.change.after?.kind === 'file';

const isTextSide = (state: NodeState | undefined) => state === undefined || (state.kind === 'file' && state.sha256 !== undefined);

/**
 * One task's review: the change set a reviewer is looking at, their choice per file, the bytes
 * they settled on where they reverted hunks or edited the proposed text, and which files the host
 * has changed since. The one model every front end shows (the source-control view, later MCP);
 * choices are saved with the task, so a reload or another window finds them, and an apply writes
 * exactly what the review shows: never a file that changed in the box since it was shown.
 *
 * A review opened on an agent's apply request is read-only: the request names its change set and
 * files, and an allow applies exactly those (the requester writes them).
 */
export class TaskReview {
  private readonly changed = new Emitter<{ paths?: readonly string[] }>();
  /** Fires when items change: all of them (no paths) or the named ones. */
  readonly onDidChange = this.changed.event;
  private conflicts = new Map<string, { reason: string; mergeable: boolean }>();
  private itemCache?: Map<string, ReviewItem>;
  /** Looks, applies and undos run one at a time: a look landing mid-apply would move the review under it. */
  private work: Promise<unknown> = Promise.resolve();

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.work.then(task, task);
    this.work = next.catch(() => undefined);
    return next;
  }

  private constructor(
    private readonly service: ChangeService,
    private changes: TaskChanges,
    private state: ReviewState,
    /** Set for a review of an agent's request: only these paths, nothing may be chosen or edited. */
    readonly request?: { id: string; paths: ReadonlySet<string> },
  ) {}

  /**
   * Resumes the task's saved review when its change set is still kept, else starts one from a
   * fresh look at the box. `fresh` starts over, dropping saved choices.
   */
  static async open(service: ChangeService, task: string, { signal, fresh = false }: { signal?: AbortSignal; fresh?: boolean } = {}): Promise<TaskReview> {
    const id = service.resolveTask(task);
    const store = service.reviewState(id);
    const saved = fresh ? undefined : store.load(id);
    if (saved) {
      try {
        return new TaskReview(service, service.reviewed(id, saved.changeSet), saved);
      } catch (error) {
        // The set is no longer kept (or no longer matches its name): its choices name nothing any more.
        if (!AirlockError.is(error) || !error.code.startsWith('changeSet.')) throw error;
      }
    }
    const changes = await service.changes(id, { signal });
    const state: ReviewState = { version: 1, task: changes.record.id, changeSet: changes.changeSet.id, startedAt: new Date().toISOString(), files: {} };
    store.save(state);
    return new TaskReview(service, changes, state);
  }

  /** A read-only review of exactly what an agent's apply request names. */
  static forRequest(service: ChangeService, request: ApprovalRequest): TaskReview {
    const changeSet = request.details?.changeSet;
    const paths = request.details?.paths;
    if (request.kind !== 'apply' || typeof changeSet !== 'string' || !Array.isArray(paths) || !paths.every((entry) => typeof entry === 'string')) {
      throw new AirlockError(`request ${request.id} does not name a change set and its files`, { code: 'review.notAnApplyRequest', hint: 'Decide it from the request itself.', field: 'request' });
    }
    const changes = service.reviewed(request.task, changeSet);
    const state: ReviewState = { version: 1, task: changes.record.id, changeSet: changes.changeSet.id, startedAt: request.createdAt, files: {} };
    return new TaskReview(service, changes, state, { id: request.id, paths: new Set(paths) });
  }

  get task(): TaskChanges['record'] {
    return this.changes.record;
  }

  get changeSetId(): string {
    return this.state.changeSet;
  }

  get readOnly(): boolean {
    return this.request !== undefined;
  }

  /** Every file of the review that is not already applied, built once per change and kept. */
  items(): ReviewItem[] {
    return [...this.index().values()];
  }

  item(path: string): ReviewItem | undefined {
    return this.index().get(path);
  }

  private index(): Map<string, ReviewItem> {
    if (this.itemCache) return this.itemCache;
    const items = new Map<string, ReviewItem>();
    for (const change of this.changes.changeSet.files) {
      if (this.request && !this.request.paths.has(change.path)) continue;
      const saved = this.state.files[change.path];
      if (saved?.applied !== undefined) continue;
      items.set(change.path, this.buildItem(change));
    }
    return (this.itemCache = items);
  }

  private buildItem(change: FileChange): ReviewItem {
    const saved = this.state.files[change.path] ?? {};
    const conflict = this.conflicts.get(change.path);
    const group: ReviewGroup = change.refusal ? 'never' : conflict ? 'conflicts' : change.risk.length ? 'risky' : 'changes';
    const textual = !change.binary && isTextSide(change.before) && isTextSide(change.after) && change.before?.kind !== 'dir' && change.after?.kind !== 'dir';
    const taken = !this.request ? !change.refusal && (saved.choice === 'accept' || (saved.choice === undefined && !saved.refreshed && !change.risk.length)) : true;
    return {
      path: change.path,
      change,
      group,
      taken,
      ...(saved.choice ? { choice: saved.choice } : {}),
      edited: saved.edited !== undefined,
      refreshed: saved.refreshed === true,
      ...(conflict ? { conflict: conflict.reason } : {}),
      mergeable: conflict?.mergeable ?? false,
      what: describeChange(change),
      textual,
      editable: !this.request && !change.refusal && textual && change.after?.kind === 'file',
    };
  }

  private invalidate(paths?: readonly string[]) {
    if (paths && this.itemCache) {
      for (const path of paths) {
        const change = this.changes.changeSet.files.find((entry) => entry.path === path);
        if (!change || this.state.files[path]?.applied !== undefined || (this.request && !this.request.paths.has(path))) this.itemCache.delete(path);
        else this.itemCache.set(path, this.buildItem(change));
      }
    } else this.itemCache = undefined;
    this.changed.fire({ ...(paths ? { paths } : {}) });
  }

  private save() {
    if (!this.request) this.service.reviewState(this.task.id).save(this.state);
  }

  private mustOwn(what: string) {
    if (this.request) throw new AirlockError(`${what}: this review shows an agent's apply request, which is approved or denied as a whole`, { code: 'review.readOnly', hint: 'Approve or deny the request; or open your own review of the task.', field: 'request' });
  }

  /** Sets the reviewer's choice for files; a file that can never be applied cannot be accepted. */
  choose(paths: readonly string[], choice: ReviewChoice | undefined): void {
    this.mustOwn('choose');
    for (const path of paths) {
      const item = this.item(path);
      if (!item) throw new AirlockError(`path: ${printableLine(path)} is not in this review`, { code: 'review.noSuchPath', hint: 'Refresh the review.', field: 'path' });
      if (item.change.refusal && choice === 'accept') throw new AirlockError(`path: ${printableLine(path)} can never be applied (${item.change.refusal})`, { code: 'review.neverApplied', field: 'path' });
    }
    for (const path of paths) {
      const { choice: _old, refreshed: _seen, ...rest } = this.state.files[path] ?? {};
      this.state.files[path] = { ...rest, ...(choice ? { choice } : {}) };
    }
    this.save();
    this.invalidate(paths);
  }

  /** The reviewer has looked at a refreshed file: it is no longer held back for being unseen. */
  markSeen(path: string): void {
    const entry = this.state.files[path];
    if (this.request || !entry?.refreshed) return;
    const { refreshed: _seen, ...rest } = entry;
    this.state.files[path] = rest;
    this.save();
    this.invalidate([path]);
  }

  /** The base snapshot's bytes for the file (its old path for a rename); undefined when it did not exist. */
  base(path: string): Buffer | undefined {
    const change = this.item(path)?.change;
    if (!change?.before) return undefined;
    if (change.before.kind === 'symlink') return Buffer.from(change.before.target ?? '');
    return change.before.kind === 'file' ? this.changes.content.base.bytes(change.oldPath ?? path) : undefined;
  }

  /** What would be written: the reviewer's bytes when they edited it, else the box's. */
  proposed(path: string): Buffer | undefined {
    const change = this.item(path)?.change;
    if (!change?.after) return undefined;
    if (change.after.kind === 'symlink') return Buffer.from(change.after.target ?? '');
    const sha = this.state.files[path]?.edited ?? change.after.sha256;
    return change.after.kind === 'file' && sha ? this.changes.content.blob(sha) : undefined;
  }

  /** Takes the reviewer's bytes for the proposed side: they are what an apply writes. Nothing goes back into the box. */
  saveProposed(path: string, bytes: Buffer): void {
    this.mustOwn('edit');
    const item = this.item(path);
    if (!item?.editable) throw new AirlockError(`path: ${printableLine(path)} cannot be edited in the review (${item ? item.what : 'not in this review'})`, { code: 'review.notEditable', field: 'path' });
    const entry = this.state.files[path] ?? {};
    const { edited: _old, ...rest } = entry;
    const original = item.change.after?.sha256;
    this.service.keepReviewedBytes(this.task.id, bytes, (sha) => {
      this.state.files[path] = sha === original ? rest : { ...rest, edited: sha };
      this.save();
    });
    this.conflicts.delete(path);
    this.invalidate([path]);
  }

  /** Drops the reviewer's edit: the proposed side is the box's again. */
  discardEdit(path: string): void {
    this.mustOwn('discard');
    const { edited: _old, ...rest } = this.state.files[path] ?? {};
    this.state.files[path] = rest;
    this.save();
    this.invalidate([path]);
  }

  private selectionOf(items: readonly ReviewItem[]): ApplySelection {
    const chosen = items.filter((item) => !item.change.refusal);
    const content: Record<string, string> = {};
    for (const item of chosen) {
      const edited = this.state.files[item.path]?.edited;
      if (edited) content[item.path] = edited;
    }
    return { paths: chosen.map((item) => item.path), exact: true, allowRisky: chosen.filter((item) => item.change.risk.length).map((item) => item.path), ...(Object.keys(content).length ? { content } : {}) };
  }

  /** What Apply would take now: exactly the taken files, risky ones named one by one, with the reviewer's bytes. */
  selection(): ApplySelection {
    return this.selectionOf(this.items().filter((item) => item.taken));
  }

  /**
   * Plans every file against the host as it is now (writing nothing) and files those the host has
   * changed beyond a clean merge under Conflicts. `paths` limits the check to files the host just
   * changed.
   */
  checkHost(paths?: readonly string[]): void {
    const items = this.items().filter((item) => !item.change.refusal && (!paths || paths.includes(item.path)));
    if (!items.length) return;
    const { refused } = this.service.checkAgainstHost(this.changes, this.selectionOf(items));
    const before = new Map(this.conflicts);
    for (const item of items) this.conflicts.delete(item.path);
    for (const note of refused) {
      const item = this.item(note.path);
      if (!item) continue;
      this.conflicts.set(note.path, { reason: note.reason, mergeable: mergeable(item, note.code) });
    }
    const touched = items.map((item) => item.path).filter((path) => before.get(path)?.reason !== this.conflicts.get(path)?.reason);
    if (touched.length) this.invalidate(touched);
  }

  /**
   * Looks at the box again. Files whose change differs from what the review showed are refreshed:
   * their choices and edits are dropped and they are marked, so nothing nobody has seen is taken.
   * Returns those paths (empty when the box shows the same change set).
   */
  refresh(signal?: AbortSignal): Promise<string[]> {
    return this.serial(() => this.refreshNow(signal));
  }

  private async refreshNow(signal?: AbortSignal): Promise<string[]> {
    const now = await this.service.changes(this.task.id, { signal, pin: [this.state.changeSet] });
    if (now.changeSet.id === this.state.changeSet) return [];
    const old = new Map(this.changes.changeSet.files.map((change) => [change.path, changeKey(change)]));
    const fresh = new Map(now.changeSet.files.map((change) => [change.path, changeKey(change)]));
    const differing = [...new Set([...old.keys(), ...fresh.keys()])].filter((path) => old.get(path) !== fresh.get(path)).sort();
    for (const path of differing) {
      if (fresh.has(path)) this.state.files[path] = { refreshed: true };
      else delete this.state.files[path];
      this.conflicts.delete(path);
    }
    this.changes = now;
    this.state = { ...this.state, changeSet: now.changeSet.id };
    this.save();
    this.invalidate();
    return differing;
  }

  /**
   * Applies exactly what the review takes. The box is looked at first: if a taken file changed there
   * since it was shown, nothing is written and the review is refreshed so the reviewer can look.
   * Conflicts found on the way move to Conflicts; written files leave the review until undone.
   */
  async apply(options: { signal?: AbortSignal; onProgress?: OnProgress } = {}): Promise<ReviewApplyOutcome> {
    this.mustOwn('apply');
    return this.serial(() => this.applyNow(options));
  }

  private async applyNow({ signal, onProgress }: { signal?: AbortSignal; onProgress?: OnProgress }): Promise<ReviewApplyOutcome> {
    const takenBefore = new Set(this.items().filter((item) => item.taken).map((item) => item.path));
    if (!takenBefore.size) throw new AirlockError('apply: nothing in this review is chosen', { code: 'review.nothingChosen', hint: 'Accept the files to apply; risky files need accepting one by one.', field: 'paths' });
    const refreshed = this.task.destroyedAt ? [] : await this.refreshNow(signal);
    const stale = refreshed.filter((path) => takenBefore.has(path));
    if (stale.length) {
      throw new AirlockError(`apply: ${stale.length} chosen file(s) changed in the task since the review showed them (${stale.slice(0, 5).map(printableLine).join(', ')}${stale.length > 5 ? ', …' : ''}); nothing was written`, {
        code: 'review.outOfDate',
        hint: 'The review now shows their new content: look at them, choose again, then apply.',
        field: 'paths',
      });
    }
    const items = this.items().filter((item) => item.taken);
    const selection = this.selectionOf(items);
    const { report } = await this.service.apply(this.task.id, selection, { changes: this.changes, signal, onProgress });
    const refusedPaths = new Set(report.refused.map((note) => note.path));
    for (const item of items) {
      if (refusedPaths.has(item.path)) continue;
      this.state.files[item.path] = { ...this.state.files[item.path], applied: report.id ?? 'unchanged' };
    }
    for (const note of report.refused) {
      const item = this.item(note.path);
      if (item) this.conflicts.set(note.path, { reason: note.reason, mergeable: mergeable(item, note.code) });
    }
    this.save();
    this.invalidate();
    return { report, refreshed: refreshed.filter((path) => !takenBefore.has(path)) };
  }

  /** Reverts the task's last apply on the host; the files it wrote come back into the review. */
  async undo(options: { force?: boolean; signal?: AbortSignal; onProgress?: OnProgress } = {}): Promise<UndoReport> {
    this.mustOwn('undo');
    return this.serial(() => this.undoNow(options));
  }

  private async undoNow(options: { force?: boolean; signal?: AbortSignal; onProgress?: OnProgress }): Promise<UndoReport> {
    const report = await this.service.undo(this.task.id, options);
    if (!this.request) {
      for (const [path, entry] of Object.entries(this.state.files)) {
        if (entry.applied === report.id) {
          const { applied: _gone, ...rest } = entry;
          this.state.files[path] = rest;
        }
      }
      this.save();
    }
    this.invalidate();
    return report;
  }

  /** Ends the review: its saved choices and edits are dropped. */
  end(): void {
    if (!this.request) this.service.reviewState(this.task.id).clear();
    this.changed.dispose();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
