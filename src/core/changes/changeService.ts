import * as fs from 'node:fs';
import { AirlockError } from '../errors.js';
import type { EngineConnection } from '../engine/locateEngine.js';
import { BaseSnapshot } from '../snapshot/snapshotManifest.js';
import type { TaskRecord } from '../task/taskRecord.js';
import type { TaskService } from '../task/taskService.js';
import type { TaskStore } from '../task/taskStore.js';
import { ApplyJournal } from './applyJournal.js';
import { applyChanges, type ApplyReport, type ApplySelection, selectChanges, undoLastApply, type UndoReport } from './applyChanges.js';
import { ApprovalBoard } from '../approvals/approvalBoard.js';
import type { ApprovalDecision, ApprovalRequest } from '../approvals/approvalQueue.js';
import { taskCommandSettings } from '../commands/commandSettings.js';
import { BlobStore } from './blobStore.js';
import { buildChangeSet, type ChangeContent, type ScanResult } from './buildChangeSet.js';
import { type ChangeSet, type FileChange, gitMode } from './changeSet.js';
import type { TransactionOptions } from './hostTransaction.js';
import { riskClassifier } from './riskRules.js';
import { scanWithArchive } from './archiveScanner.js';
import { diffableText, filePatch, formatPatch, printableLine } from './textDiff.js';
import { ScannerUnavailable, scanWithScanner } from './workspaceScanner.js';

export const DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024;

export interface DiffOptions {
  signal?: AbortSignal;
  /** Per-file size limit; larger files are listed but never copied out or applied. */
  maxFileBytes?: number;
  /** Extra risky-path globs on top of the built-in list. */
  riskyPatterns?: string[];
  /** `auto` uses the in-container scanner and falls back to streaming the tree out when the image has no node. */
  method?: 'auto' | 'scanner' | 'archive';
}

export interface TaskChanges {
  record: TaskRecord;
  changeSet: ChangeSet;
  content: ChangeContent;
}

/**
 * Diff, apply and undo for one task: the core every front end (CLI, review panel, MCP tools)
 * calls. Each diff is a fresh look at the container; apply writes only what that look showed.
 */
export class ChangeService {
  constructor(private readonly tasks: TaskService) {}

  private get engine(): EngineConnection {
    return this.tasks.engine;
  }

  private stores(id: string) {
    const files = this.tasks.store.changeFiles(id);
    return { ...files, blobs: new BlobStore(files.blobDir), journal: new ApplyJournal(files.journalDir) };
  }


  async changes(idOrPrefix: string, options: DiffOptions = {}): Promise<TaskChanges> {
    const record = await this.tasks.live(idOrPrefix);
    const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const { blobs, changeSetFile } = this.stores(record.id);
    if (!fs.existsSync(record.snapshot.archiveFile)) throw new AirlockError(`task ${record.id} has no base snapshot on this machine`, 'Diffs need the host that started the task.', 'ID');
    const base = BaseSnapshot.load(record.snapshot.manifestFile);
    const container = this.engine.docker.getContainer(record.containerId);
    let scan: ScanResult;
    const viaArchive = () => scanWithArchive(container, base, blobs, maxFileBytes, options.signal);
    try {
      scan =
        options.method === 'archive'
          ? await viaArchive()
          : await scanWithScanner({ container, modem: this.engine.docker.modem, user: record.user, base, readyAtMs: record.snapshot.readyAtMs ?? 0, maxFileBytes, blobs, signal: options.signal }).catch((error: unknown) => {
              if (error instanceof ScannerUnavailable && options.method !== 'scanner') return viaArchive();
              throw error;
            });
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      if (status === 404 || status === 409) throw new AirlockError(`task ${record.id} is no longer running (its container has gone)`, 'Start a new task with `airlock start`.', 'ID');
      throw error;
    }
    const content: ChangeContent = { base, blob: (sha, limit) => (blobs.has(sha) ? blobs.read(sha, limit) : undefined) };
    const changeSet = buildChangeSet(scan, content, { task: record.id, risk: riskClassifier([...((record.options.riskyPaths as string[] | undefined) ?? []), ...(options.riskyPatterns ?? [])]), maxFileBytes });
    fs.writeFileSync(changeSetFile, JSON.stringify(changeSet), { mode: 0o600 });
    return { record, changeSet, content };
  }

  /** Applies the chosen part of a fresh change set, then records paths and content hashes in the audit log. */
  async apply(idOrPrefix: string, selection: ApplySelection, options: DiffOptions & { afterMutation?: TransactionOptions['afterMutation']; changes?: TaskChanges } = {}): Promise<{ changes: TaskChanges; report: ApplyReport }> {
    const changes = options.changes ?? (await this.changes(idOrPrefix, options));
    const { record, changeSet, content } = changes;
    const { blobs, journal } = this.stores(record.id);
    const audit = this.tasks.store.audit(record.id);
    let report: ApplyReport;
    try {
      report = applyChanges({ root: record.workspace, changeSet, content, blobs, journal, afterMutation: options.afterMutation }, selection);
    } catch (error) {
      audit.append({ type: 'warning', task: record.id, message: `apply failed: ${(error as Error).message}` });
      throw error;
    }
    audit.append({ type: 'changes.applied', task: record.id, apply: report.id, changeSet: { files: changeSet.files.length, createdAt: changeSet.createdAt }, written: report.written, refused: report.refused, held: report.held });
    return { changes, report };
  }

  /**
   * Apply for callers that are not the person at the keyboard (agents, tools): the chosen files go
   * to the task's approval queue as an `apply` request, and exactly the change set the reviewer was
   * shown is applied after an allow. A deny or timeout writes nothing.
   */
  async applyAfterApproval(idOrPrefix: string, selection: ApplySelection, options: DiffOptions & { timeoutMs?: number; onWaiting?: (request: ApprovalRequest) => void } = {}): Promise<{ changes: TaskChanges; request: ApprovalRequest; decision: ApprovalDecision; report?: ApplyReport }> {
    const changes = await this.changes(idOrPrefix, options);
    const { record, changeSet } = changes;
    const { chosen, held, refused } = selectChanges(changeSet.files, selection);
    if (chosen.length === 0) throw new AirlockError(`apply: nothing to apply from task ${record.id}${[...held, ...refused].length ? ` (${[...held, ...refused].map((item) => `${item.path}: ${item.reason}`).join('; ')})` : ''}`, 'Check with `airlock diff ID`.', 'paths');
    const hunks = selection.hunks ?? {};
    const files = chosen.map((change) => `${change.status} ${change.path}${hunks[change.path] ? ` (hunks ${hunks[change.path].join(',')})` : ''}${change.risk.length ? ' (risky)' : ''}`);
    const queue = new ApprovalBoard(this.tasks.store).queue(record.id);
    const timeoutMs = options.timeoutMs ?? taskCommandSettings(record).approvalTimeoutSeconds * 1000;
    const request = queue.request({ kind: 'apply', subject: `apply ${chosen.length} change(s) to ${record.workspace}`, reason: 'writes to the host workspace', details: { workspace: record.workspace, changeSet: changeSet.createdAt, files, ...(held.length ? { held: held.map((item) => item.path) } : {}) } }, timeoutMs);
    options.onWaiting?.(request);
    const decision = await queue.wait(request, options.signal);
    if (decision.decision === 'deny') return { changes, request, decision };
    const { report } = await this.apply(record.id, selection, { ...options, changes });
    return { changes, request, decision, report };
  }

  undo(idOrPrefix: string, options: UndoOptions = {}): UndoReport {
    return undoTask(this.tasks.store, idOrPrefix, options);
  }
}

export interface UndoOptions {
  force?: boolean;
  afterMutation?: TransactionOptions['afterMutation'];
}

/** Reverts the task's last apply on the host. Needs no engine: it works after the task has gone. */
export function undoTask(store: TaskStore, idOrPrefix: string, { force = false, afterMutation }: UndoOptions = {}): UndoReport {
  const record = store.resolve(idOrPrefix);
  const files = store.changeFiles(record.id);
  const blobs = new BlobStore(files.blobDir);
  const journal = new ApplyJournal(files.journalDir);
  const last = journal.last();
  const report = undoLastApply({ root: record.workspace, blobs, journal, afterMutation }, { force });
  const restored = (last?.steps ?? []).filter((step) => report.restored.includes(step.path)).map((step) => ({ path: step.path, kind: step.before.kind, ...(step.before.kind === 'file' ? { sha256: step.before.sha256 } : {}) }));
  store.audit(record.id).append({ type: 'changes.undone', task: record.id, apply: report.id, restored });
  return report;
}

/** The change set as a unified diff: git-style headers, risk and refusal notes, numbered hunks. */
export function formatChanges(changes: TaskChanges, only?: (change: FileChange) => boolean): string {
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
    if (change.refusal) header.push(`never applied: ${change.refusal}`);
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
