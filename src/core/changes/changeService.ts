import { LAYER_UPPER_PATH } from '../ground/sandboxPaths.js';
import * as fs from 'node:fs';
import { z } from 'zod';
import { AirlockError, CancelledError } from '../ground/errors.js';
import type { EngineConnection } from '../engine/locateEngine.js';
import { BaseSnapshot } from '../snapshot/snapshotManifest.js';
import type { TaskRecord } from '../state/taskRecord.js';
import type { TaskService } from '../task/taskService.js';
import type { TaskStore } from '../state/taskStore.js';
import { ApplyJournal, type Journal } from './applyJournal.js';
import { type ApplyLock, applyLockHeld, takeApplyLock } from './applyLock.js';
import { hasStagedLeftovers, settleInterruptedApply, type SettledApply } from './applyRecovery.js';
import { applyChangesAsync, type ApplyReport, checkAgainstHost, type ApplySelection, type HostWorkOptions, PathsNotTaken, selectChanges, undoLastApplyAsync, type UndoReport } from './applyChanges.js';
import { ApprovalBoard } from '../approvals/approvalBoard.js';
import { type ApprovalDecision, type ApprovalRequest, describeRefusal } from '../approvals/approvalQueue.js';
import { taskCommandSettings } from '../commands/commandSettings.js';
import { BlobStore } from './blobStore.js';
import { buildChangeSet, type ChangeContent, type ScanResult } from './buildChangeSet.js';
import { type FileChange, gitMode, identify, type IdentifiedChangeSet, shortChangeSetId } from './changeSet.js';
import { ChangeSetStore } from './changeSetStore.js';
import { reviewPins, ReviewStateStore } from './reviewState.js';
import { BLOB_GRACE_MS, KEEP_RECENT_CHANGE_SETS, markBlobWork, retainReviewState, blobWorkInFlight } from './blobRetention.js';
import type { TransactionOptions } from './hostTransaction.js';
import { riskClassifier } from './riskRules.js';
import { scanWithArchive } from './archiveScanner.js';
import { diffableText, filePatch, formatPatch, printableLine, TEXT_DIFF_LIMIT } from './textDiff.js';
import { ScannerUnavailable, scanWithScanner } from './workspaceScanner.js';

export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;
/** How long an allowed apply request keeps its change set from the sweep: ample for the requester to write it. */
const ALLOWED_APPLY_PIN_MS = 10 * 60 * 1000;
/** What one task's box may make the host keep (its changed files' contents), across all its kept change sets. */
export const DEFAULT_MAX_STORE_BYTES = 2 * 1024 * 1024 * 1024;

export interface DiffOptions {
  signal?: AbortSignal;
  /** Per-file size limit; larger files are listed but never copied out or applied. */
  maxFileBytes?: number;
  /** Extra risky-path globs on top of the built-in list. */
  riskyPatterns?: string[];
  /** `auto` uses the in-container scanner and falls back to streaming the tree out when the image has no node. */
  method?: 'auto' | 'scanner' | 'archive';
  /** Cap on the task's blob store on the host; a diff that would pass it fails and keeps nothing new. */
  maxStoreBytes?: number;
}

export interface TaskChanges {
  record: TaskRecord;
  changeSet: IdentifiedChangeSet;
  content: ChangeContent;
}

/** How the applied change set relates to what a person reviewed. */
export interface ApplyReview {
  /** The change set that was written from. */
  changeSet: string;
  /** False when nobody named it: a fresh look taken by the apply itself. */
  reviewed: boolean;
  /** The box's change set now, when it differs from the one applied (the box changed since the review). */
  current?: string;
  /** Why the box could not be looked at again (it has gone, say); the reviewed set was still applied. */
  currentUnknown?: string;
}

/**
 * `signal` stops the look at the box and the apply; the apply itself stops only before its commit
 * point (nothing written, no undo record), and finishes once past it. `onProgress` follows the
 * apply: `checking`, then `applying`, in files.
 */
export interface ApplyOptions extends DiffOptions, HostWorkOptions {
  /** The change set a person reviewed, by id: exactly its bytes are written, whatever the box does since. */
  changeSet?: string;
  /** A change set this process already holds (and showed); no fresh look is taken. */
  changes?: TaskChanges;
  afterMutation?: TransactionOptions['afterMutation'];
  /** The allowed apply request this writes, recorded with the apply in the audit log. */
  request?: string;
}

/**
 * Who writes an allowed apply request: the process that filed it and waits (`airlock apply
 * --request`), or the reviewer's front end as it records the allow (a request an agent filed
 * without waiting: MCP's request_apply, `apply --request --no-wait`).
 */
export type ApplyRequestWriter = 'requester' | 'reviewer';

/** What an apply request's details hold, as its filer wrote them; a reviewer's front end writes exactly this. */
const applyRequestDetailsSchema = z.looseObject({
  workspace: z.string(),
  changeSet: z.string().regex(/^[0-9a-f]{32,64}$/),
  paths: z.array(z.string()).min(1),
  hunks: z.record(z.string(), z.array(z.number().int().positive())).optional(),
  writer: z.enum(['requester', 'reviewer']).optional(),
});

/** Who writes this apply request once allowed (requests filed before writers were named: the requester). */
export function applyRequestWriter(request: ApprovalRequest): ApplyRequestWriter {
  return request.kind === 'apply' && request.details?.writer === 'reviewer' ? 'reviewer' : 'requester';
}

/**
 * Diff, apply and undo for one task: the core every front end (CLI, review panel, MCP tools)
 * calls. Each diff is a fresh look at the container and names what it saw (a change set id); an
 * apply that names it writes exactly that, from the host's blob store.
 */
export class ChangeService {
  constructor(private readonly tasks: TaskService) {}

  private get engine(): EngineConnection {
    return this.tasks.engine;
  }

  private stores(id: string) {
    const files = this.tasks.store.changeFiles(id);
    return { ...files, blobs: new BlobStore(files.blobDir), journal: new ApplyJournal(files.journalDir), changeSets: new ChangeSetStore(files.changeSetDir) };
  }

  /** Change sets that a pending apply request names: a reviewer may still approve exactly those. */
  /**
   * Change sets an apply request names while it waits, and for a while after an allow: the
   * requester writes them once it sees the decision, which may be after another process's sweep.
   */
  private pinned(id: string): Set<string> {
    const queue = new ApprovalBoard(this.tasks.store).queue(id);
    const now = Date.now();
    const pinned = new Set<string>();
    for (const request of queue.requests()) {
      if (request.kind !== 'apply' || typeof request.details?.changeSet !== 'string') continue;
      const decision = queue.decision(request.id);
      const waiting = !decision && Date.parse(request.expiresAt) > now;
      const justAllowed = decision?.decision === 'allow' && now - Date.parse(decision.at) < ALLOWED_APPLY_PIN_MS;
      if (waiting || justAllowed) pinned.add(request.details.changeSet);
    }
    return pinned;
  }

  private retain(id: string, extraPinned: readonly string[] = []) {
    const { blobDir, changeSets, journal, reviewFile } = this.stores(id);
    // Another process's scan or apply may be storing blobs nothing names yet: spare young ones then.
    const graceMs = blobWorkInFlight(this.blobWorkDir(id)) > 0 ? BLOB_GRACE_MS : 0;
    const review = reviewPins(reviewFile, id);
    return retainReviewState({ blobDir, changeSets, journal, pinned: new Set([...this.pinned(id), ...review.changeSets, ...extraPinned]), keepBlobs: new Set(review.blobs), keepRecent: KEEP_RECENT_CHANGE_SETS, graceMs });
  }

  private blobWorkDir(id: string): string {
    return this.tasks.store.changeFiles(id).blobWorkDir;
  }

  private content(record: TaskRecord): ChangeContent {
    if (!fs.existsSync(record.snapshot.archiveFile)) throw new AirlockError(`task ${record.id} has no base snapshot on this machine`, { code: 'changes.noBaseSnapshot', hint: 'Diffs need the host that started the task, while the task exists.', field: 'ID' });
    const blobs = this.stores(record.id).blobs;
    return { base: BaseSnapshot.load(record.snapshot.manifestFile), blob: (sha, limit) => (blobs.has(sha) ? blobs.read(sha, limit) : undefined) };
  }

  /** A fresh look at the box: the change set it shows now, kept on the host under its id. */
  async changes(idOrPrefix: string, options: DiffOptions & { pin?: readonly string[] } = {}): Promise<TaskChanges> {
    const record = await this.tasks.live(idOrPrefix);
    const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const limit = options.maxStoreBytes ?? DEFAULT_MAX_STORE_BYTES;
    const content = this.content(record);
    const { keptBytes } = this.retain(record.id, options.pin);
    const scanning = markBlobWork(this.blobWorkDir(record.id));
    let changes: TaskChanges;
    try {
      changes = await this.scan(record, content, { ...options, maxFileBytes, limit, keptBytes });
    } finally {
      scanning.done();
    }
    // What this look made unnameable (the oldest kept set) goes now, not at the next diff.
    this.retain(record.id, [...(options.pin ?? []), changes.changeSet.id]);
    return changes;
  }

  private async scan(record: TaskRecord, content: ChangeContent, options: DiffOptions & { maxFileBytes: number; limit: number; keptBytes: number }): Promise<TaskChanges> {
    const { base } = content;
    const { maxFileBytes, limit, keptBytes } = options;
    // New bytes from this scan count against what the task may keep on the host.
    const blobs = new BlobStore(this.stores(record.id).blobDir, { limit, remaining: Math.max(0, limit - keptBytes) });
    const container = this.engine.docker.getContainer(record.containerId);
    let scan: ScanResult;
    const viaArchive = () => scanWithArchive(container, base, blobs, maxFileBytes, options.signal);
    try {
      scan =
        options.method === 'archive'
          ? await viaArchive()
          : await scanWithScanner({ container, user: record.user, base, readyAtMs: record.snapshot.readyAtMs ?? 0, folderInodes: this.tasks.store.folderInodes(record.id), layer: record.snapshot.baseVolume ? LAYER_UPPER_PATH : undefined, maxFileBytes, blobs, signal: options.signal }).catch((error: unknown) => {
              if (error instanceof ScannerUnavailable && options.method !== 'scanner') return viaArchive();
              throw error;
            });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404 || status === 409) throw new AirlockError(`task ${record.id} is no longer running (its container has gone)`, { code: 'task.gone', hint: 'Start a new task.', field: 'ID', actions: [{ kind: 'startTask' }] });
      throw error;
    }
    const changeSet = identify(buildChangeSet(scan, content, { task: record.id, risk: this.classifier(record, options.riskyPatterns), maxFileBytes }));
    this.stores(record.id).changeSets.save(changeSet);
    return { record, changeSet, content };
  }

  /**
   * A change set taken earlier, exactly as it was shown: no look at the box. Its risk is judged
   * again with today's list and the patterns given now, added to what was found then: a named set
   * must never be held back by less than a fresh look would be.
   */
  reviewed(idOrPrefix: string, changeSetId: string, riskyPatterns: readonly string[] = []): TaskChanges {
    const record = this.tasks.store.resolve(idOrPrefix);
    const stored = this.stores(record.id).changeSets.load(record.id, changeSetId);
    const content = this.content(record);
    const risk = this.classifier(record, riskyPatterns);
    const files = stored.files.map((change) => {
      const text = (state: FileChange['before'], read: () => Buffer | undefined) => (state?.kind === 'file' ? (state.size > TEXT_DIFF_LIMIT ? undefined : diffableText(read())) : state ? undefined : '');
      const beforeText = text(change.before, () => content.base.bytes(change.oldPath ?? change.path));
      const afterText = text(change.after, () => (change.after?.sha256 ? content.blob(change.after.sha256) : undefined));
      const now = risk({ change, beforeText: beforeText || undefined, afterText });
      return { ...change, risk: [...new Set([...change.risk, ...now])] };
    });
    return { record, changeSet: { ...stored, files }, content };
  }

  private classifier(record: TaskRecord, riskyPatterns: readonly string[] = []) {
    return riskClassifier([...((record.options.riskyPaths as string[] | undefined) ?? []), ...riskyPatterns]);
  }

  /**
   * Applies the chosen part of a change set and records paths and content hashes in the audit log:
   * the one named by `changeSet` (from the host's blob store, whatever the box has done since), the
   * one passed in, or else a fresh, unreviewed look. The host work runs in slices, so the event
   * loop keeps turning; an abort before the commit point rejects with CancelledError and leaves the
   * host exactly as it was, after it the apply finishes (see `applyChangesAsync`).
   */
  async apply(idOrPrefix: string, selection: ApplySelection, options: ApplyOptions = {}): Promise<{ changes: TaskChanges; report: ApplyReport; review: ApplyReview }> {
    let changes: TaskChanges;
    let review: ApplyReview;
    if (options.changes) {
      changes = options.changes;
      review = { changeSet: changes.changeSet.id, reviewed: true };
    } else if (options.changeSet !== undefined) {
      changes = this.reviewed(idOrPrefix, options.changeSet, options.riskyPatterns);
      review = { changeSet: changes.changeSet.id, reviewed: true };
      if (changes.record.destroyedAt) review.currentUnknown = `task ${changes.record.id} has ended`;
      else {
        try {
          const now = await this.changes(changes.record.id, { ...options, pin: [changes.changeSet.id] });
          if (now.changeSet.id !== changes.changeSet.id) review.current = now.changeSet.id;
        } catch (error) {
          if (CancelledError.is(error)) throw error;
          review.currentUnknown = (error as Error).message;
        }
      }
    } else {
      changes = await this.changes(idOrPrefix, options);
      review = { changeSet: changes.changeSet.id, reviewed: false };
    }
    const { record, changeSet, content } = changes;
    const { blobs, journal } = this.stores(record.id);
    const audit = this.tasks.store.audit(record.id);
    const missing = selectChanges(changeSet.files, selection).chosen.filter((change) => {
      const sha = selection.content?.[change.path] ?? change.after?.sha256;
      return sha !== undefined && !blobs.has(sha);
    });
    if (missing.length) {
      throw new AirlockError(`apply: the content of change set ${shortChangeSetId(changeSet.id)} is no longer on this machine (${missing.map((change) => printableLine(change.path)).join(', ')}); nothing was written`, {
        code: 'apply.contentGone',
        hint: "Review the task's changes again, then apply those.",
        field: 'changeSet',
        actions: [{ kind: 'reviewChanges', task: record.id }],
      });
    }
    let report: ApplyReport;
    const lock = takeApplyLock(this.tasks.store.taskDir(record.id), record.id);
    // Merged and hunk-chosen contents are new blobs nothing names yet: a sweep by another process spares them meanwhile.
    const applying = markBlobWork(this.blobWorkDir(record.id));
    try {
      // An apply a killed process left part-way is put back first: this one starts from a whole host.
      await settleWithAudit(this.tasks.store, record, { signal: options.signal });
      report = await applyChangesAsync({ root: record.workspace, changeSet, content, blobs, journal, afterMutation: options.afterMutation }, selection, { signal: options.signal, onProgress: options.onProgress });
    } catch (error) {
      audit.append({ type: 'warning', task: record.id, message: CancelledError.is(error) ? 'apply cancelled before anything was written' : `apply failed: ${(error as Error).message}` });
      throw error;
    } finally {
      applying.done();
      lock.release();
    }
    audit.append({ type: 'changes.applied', task: record.id, apply: report.id, ...(options.request !== undefined ? { request: options.request } : {}), changeSet: { id: changeSet.id, reviewed: review.reviewed, ...(review.current ? { boxNow: review.current } : {}), files: changeSet.files.length, createdAt: changeSet.createdAt }, written: report.written, refused: report.refused, held: report.held, ...(selection.content && Object.keys(selection.content).length ? { reviewerEdited: Object.keys(selection.content) } : {}) });
    return { changes, report, review };
  }

  /**
   * Apply for callers that are not the person at the keyboard (agents, tools): the chosen files go
   * to the task's approval queue as an `apply` request naming the change set and each file's
   * content hash, and exactly that change set is applied after an allow. A deny or timeout writes
   * nothing. `signal` withdraws the request while it waits, and stops the apply as `apply` does.
   */
  async applyAfterApproval(idOrPrefix: string, selection: ApplySelection, options: Omit<ApplyOptions, 'changes' | 'request'> & { timeoutMs?: number; onWaiting?: (request: ApprovalRequest) => void; writer?: ApplyRequestWriter } = {}): Promise<{ changes: TaskChanges; request: ApprovalRequest; decision: ApprovalDecision; report?: ApplyReport; review?: ApplyReview }> {
    const changes = options.changeSet !== undefined ? this.reviewed(idOrPrefix, options.changeSet, options.riskyPatterns) : await this.changes(idOrPrefix, options);
    const { record, changeSet } = changes;
    if (record.destroyedAt) throw new AirlockError(`task ${record.id} was destroyed (${record.destroyReason})`, { code: 'task.destroyed', hint: 'Start a new task.', field: 'ID', actions: [{ kind: 'startTask' }] });
    const { chosen, held, refused } = selectChanges(changeSet.files, selection);
    if (chosen.length === 0) {
      throw new PathsNotTaken((notes) => `apply: nothing to apply from task ${record.id}${notes ? ` (${notes})` : ''}`, [...held, ...refused], {
        code: 'apply.nothingToApply',
        hint: "Review the task's changes.",
        field: 'paths',
        actions: [{ kind: 'reviewChanges', task: record.id }],
      });
    }
    const hunks = selection.hunks ?? {};
    const files = chosen.map((change) => `${change.status} ${change.path} ${change.after?.sha256 ? `sha256:${change.after.sha256}` : change.after ? change.after.kind : 'removed'}${hunks[change.path] ? ` (hunks ${hunks[change.path].join(',')})` : ''}${change.risk.length ? ' (risky)' : ''}`);
    const queue = new ApprovalBoard(this.tasks.store).queue(record.id);
    const timeoutMs = options.timeoutMs ?? taskCommandSettings(record).approvalTimeoutSeconds * 1000;
    const request = queue.request(
      {
        kind: 'apply',
        subject: `apply ${chosen.length} change(s) to ${record.workspace}`,
        reason: 'writes to the host workspace',
        // The change set by its full id is what a reviewer looks at; each front end says how to show it.
        // `paths` is the chosen set as data, for a reviewer's view to open on exactly those files.
        // `writer` and `hunks` say who writes it and exactly what, for a reviewer's front end that does.
        details: { workspace: record.workspace, changeSet: changeSet.id, files, paths: chosen.map((change) => change.path), ...(held.length ? { held: held.map((item) => item.path) } : {}), ...(Object.keys(hunks).length ? { hunks } : {}), writer: options.writer ?? 'requester' },
      },
      timeoutMs,
    );
    options.onWaiting?.(request);
    const decision = await queue.wait(request, options.signal);
    if (decision.decision === 'deny') return { changes, request, decision };
    const { report, review } = await this.writeOnce(request, () => this.apply(record.id, selection, { ...options, changes, request: request.id }));
    return { changes, request, decision, report, review };
  }

  /**
   * Writes an apply request a reviewer has just allowed, for the front end that recorded the allow:
   * exactly the change set and files it names (from the host's blob store, whatever the box has
   * done since), once. Its risky files are written too: the reviewer saw them marked and approved
   * them. Anything else (not allowed, not the reviewer's to write, already written) is an error
   * that writes nothing.
   */
  async applyApproved(request: ApprovalRequest, options: Omit<ApplyOptions, 'changes' | 'changeSet' | 'request'> = {}): Promise<{ changes: TaskChanges; report: ApplyReport; review: ApplyReview }> {
    const queue = new ApprovalBoard(this.tasks.store).queue(request.task);
    const filed = queue.find(request.id);
    const details = filed?.kind === 'apply' ? applyRequestDetailsSchema.safeParse(filed.details) : undefined;
    if (!filed || !details?.success) throw new AirlockError(`apply: request ${request.id} is not an apply request of task ${request.task}`, { code: 'apply.notARequest', hint: 'Decide it from the request itself.', field: 'request' });
    const decision = queue.decision(filed.id);
    if (decision?.decision !== 'allow') {
      throw new AirlockError(`apply: request ${filed.id} ${decision ? `was refused (${describeRefusal(decision)})` : 'is not allowed yet'}; nothing was written`, { code: 'apply.notAllowed', hint: 'Allow the request first.', field: 'request', actions: [{ kind: 'listRequests' }] });
    }
    if (applyRequestWriter(filed) !== 'reviewer') {
      throw new AirlockError(`apply: request ${filed.id} is written by the process that filed it, which waits for the decision; nothing was written here`, { code: 'apply.requesterWrites', hint: 'Leave it to the requester; its apply shows in the task\'s audit log.', field: 'request' });
    }
    const changes = this.reviewed(filed.task, details.data.changeSet);
    if (changes.record.workspace !== details.data.workspace) {
      throw new AirlockError(`apply: request ${filed.id} names the workspace ${printableLine(details.data.workspace)}, not the task's; nothing was written`, { code: 'apply.otherWorkspace', hint: "Review the task's changes yourself.", field: 'request' });
    }
    const named = new Set(details.data.paths);
    const allowRisky = changes.changeSet.files.filter((change) => change.risk.length && named.has(change.path)).map((change) => change.path);
    return this.writeOnce(filed, () => this.apply(filed.task, { paths: details.data.paths, allowRisky, hunks: details.data.hunks ?? {} }, { ...options, changes, request: filed.id }));
  }

  /**
   * One allow writes once: a second writer (a requester and a reviewer, two reviewers' windows) is
   * refused. An apply that fails writes nothing, so its mark is taken back and the allow can be tried again.
   */
  private async writeOnce<T>(request: ApprovalRequest, write: () => Promise<T>): Promise<T> {
    const queue = new ApprovalBoard(this.tasks.store).queue(request.task);
    if (!queue.use(request.id)) {
      throw new AirlockError(`apply: request ${request.id} has already been written (its apply is in the task's audit log); nothing was written again`, { code: 'apply.requestUsed', hint: 'Undo that apply, or ask for a new one.', field: 'request' });
    }
    try {
      return await write();
    } catch (error) {
      queue.unuse(request.id);
      throw error;
    }
  }

  /** The task's full id, from an id or a unique prefix. */
  resolveTask(idOrPrefix: string): string {
    return this.tasks.store.resolve(idOrPrefix).id;
  }

  /** Where a task's review in progress is kept (its change set and the reviewer's choices). */
  reviewState(idOrPrefix: string): ReviewStateStore {
    return new ReviewStateStore(this.stores(this.resolveTask(idOrPrefix)).reviewFile);
  }

  /**
   * Stores bytes a reviewer settled on in the task's blob store. `keep` records them (in the review
   * state) while a concurrent sweep by another process still spares young blobs.
   */
  keepReviewedBytes(id: string, bytes: Buffer, keep: (sha256: string) => void): string {
    const work = markBlobWork(this.blobWorkDir(id));
    try {
      const sha = this.stores(id).blobs.put(bytes);
      keep(sha);
      return sha;
    } finally {
      work.done();
    }
  }

  /** Plans a selection against the host as it is now, writing nothing: what would conflict, what is already there. */
  checkAgainstHost(changes: TaskChanges, selection: ApplySelection): ReturnType<typeof checkAgainstHost> {
    const work = markBlobWork(this.blobWorkDir(changes.record.id));
    try {
      return checkAgainstHost({ root: changes.record.workspace, changeSet: changes.changeSet, content: changes.content, blobs: this.stores(changes.record.id).blobs }, selection);
    } finally {
      work.done();
    }
  }

  undo(idOrPrefix: string, options: UndoOptions = {}): Promise<UndoReport> {
    return undoTask(this.tasks.store, idOrPrefix, options);
  }
}

/** `signal` stops the undo before its first host change (nothing restored); past that it finishes. `onProgress`: `checking`, then `undoing`, in files. */
export interface UndoOptions extends HostWorkOptions {
  force?: boolean;
  afterMutation?: TransactionOptions['afterMutation'];
}

/**
 * Reverts the task's last apply on the host (an apply a killed process left part-way included).
 * Needs no engine: it works after the task has gone.
 */
export async function undoTask(store: TaskStore, idOrPrefix: string, { force = false, afterMutation, signal, onProgress }: UndoOptions = {}): Promise<UndoReport> {
  const record = store.resolve(idOrPrefix);
  const files = store.changeFiles(record.id);
  const blobs = new BlobStore(files.blobDir);
  const journal = new ApplyJournal(files.journalDir);
  const lock = takeApplyLock(store.taskDir(record.id), record.id);
  try {
    const last = journal.last();
    const report = await undoLastApplyAsync({ root: record.workspace, blobs, journal, afterMutation }, { force, signal, onProgress });
    store.audit(record.id).append({ type: 'changes.undone', task: record.id, apply: report.id, restored: restoredStates(last, report.restored) });
    return report;
  } finally {
    lock.release();
  }
}

const restoredStates = (journal: Journal | undefined, paths: readonly string[]) =>
  (journal?.steps ?? []).filter((step) => paths.includes(step.path)).map((step) => ({ path: step.path, kind: step.before.kind, ...(step.before.kind === 'file' ? { sha256: step.before.sha256 } : {}) }));

/** Settles an interrupted apply with the lock held, and records what it put back. */
async function settleWithAudit(store: TaskStore, record: TaskRecord, options: HostWorkOptions): Promise<SettledApply | undefined> {
  const files = store.changeFiles(record.id);
  const journal = new ApplyJournal(files.journalDir);
  const last = journal.last();
  const settled = await settleInterruptedApply({ root: record.workspace, blobs: new BlobStore(files.blobDir), journal }, record.id, options);
  if (settled) store.audit(record.id).append({ type: 'changes.recovered', task: record.id, ...(settled.apply ? { apply: settled.apply } : {}), restored: restoredStates(last, settled.restored), leftovers: settled.leftovers });
  return settled;
}

/**
 * Puts back an apply that a killed process (CLI, extension host, MCP server) left part-way, for
 * a front end as it starts or before it works on the task; nothing to do when none did. Refused
 * while another process's apply or undo is running. Needs no engine.
 */
export async function settleInterruptedApplies(store: TaskStore, idOrPrefix: string, options: HostWorkOptions = {}): Promise<SettledApply | undefined> {
  const record = store.resolve(idOrPrefix);
  const files = store.changeFiles(record.id);
  // The cheap look first: a front end calls this for every task it shows.
  const last = new ApplyJournal(files.journalDir).last();
  // A pending record under a live lock is an apply at work, not an interrupted one.
  if (applyLockHeld(store.taskDir(record.id))) return undefined;
  if (last?.status !== 'pending' && !hasStagedLeftovers(record.workspace)) return undefined;
  let lock: ApplyLock;
  try {
    lock = takeApplyLock(store.taskDir(record.id), record.id);
  } catch (error) {
    if (error instanceof AirlockError && error.code === 'apply.busy') return undefined;
    throw error;
  }
  try {
    return await settleWithAudit(store, record, options);
  } finally {
    lock.release();
  }
}

/** A front end's own words for what a change's notes say neutrally (how to raise the size limit that refused a file, say). */
export interface ChangeWording {
  refusal?: (refusal: string) => string;
}

/** The change set as a unified diff: git-style headers, risk and refusal notes, numbered hunks. */
export function formatChanges(changes: TaskChanges, only?: (change: FileChange) => boolean, wording: ChangeWording = {}): string {
  const out: string[] = [];
  for (const change of changes.changeSet.files) {
    if (only && !only(change)) continue;
    const oldPath = change.oldPath ?? change.path;
    const header = [`diff --airlock a/${oldPath} b/${change.path}`];
    const oldMode = gitMode(change.before);
    const newMode = gitMode(change.after);
    if (change.status === 'added') header.push(`new file mode ${newMode}`);
    else if (change.status === 'deleted') header.push(`deleted file mode ${oldMode}`);
    else if (oldMode !== newMode) header.push(`old mode ${oldMode}`, `new mode ${newMode}`);
    if (change.status === 'renamed') header.push(`rename from ${oldPath}`, `rename to ${change.path}`);
    if (change.after?.kind === 'symlink') header.push(`symlink to ${change.after.target}`);
    for (const reason of change.risk) header.push(`risk: ${reason}`);
    for (const note of change.notes) header.push(`note: ${note}`);
    if (change.refusal) header.push(`never applied: ${wording.refusal?.(change.refusal) ?? change.refusal}`);
    const text = (state: FileChange['before'], read: () => Buffer | undefined) => (state?.kind === 'file' ? diffableText(read()) : state ? undefined : '');
    const before = change.hunks > 0 ? text(change.before, () => changes.content.base.bytes(oldPath)) : undefined;
    const after = change.hunks > 0 ? text(change.after, () => (change.after?.sha256 ? changes.content.blob(change.after.sha256) : undefined)) : undefined;
    if (before !== undefined && after !== undefined) {
      out.push(formatPatch(filePatch(oldPath, change.path, before, after), header.map(printableLine)));
    } else {
      if (change.binary) header.push(`Binary files a/${oldPath} and b/${change.path} differ`);
      out.push(header.map(printableLine).join('\n') + '\n');
    }
  }
  return out.join('');
}
