import * as fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { ApplyJournal } from './applyJournal.js';
import { listBlobs } from './blobStore.js';
import { ChangeSetStore } from './changeSetStore.js';
import { folderNames } from '../ground/folderNames.js';
import { processAlive as processExists } from '../ground/processAlive.js';

export interface RetentionInput {
  blobDir: string;
  changeSets: ChangeSetStore;
  journal: ApplyJournal;
  /** Change sets a pending apply request names: a reviewer may still approve exactly those bytes. */
  pinned?: ReadonlySet<string>;
  /** Blobs kept whatever names them: a review's own bytes (the reviewer's edits). */
  keepBlobs?: ReadonlySet<string>;
  /** How many of the newest change sets stay nameable besides pinned ones. */
  keepRecent: number;
  /**
   * Unnamed blobs younger than this are kept: they may belong to a scan or an apply another process
   * is running right now. 0 when no such work runs, or the task is gone.
   */
  graceMs: number;
}

export interface RetentionReport {
  droppedChangeSets: string[];
  removedBlobs: number;
  removedBytes: number;
  /** What the store holds afterwards. */
  keptBytes: number;
}

/** Change sets kept by default besides pinned ones: the one under review and a couple before it. */
export const KEEP_RECENT_CHANGE_SETS = 3;
export const BLOB_GRACE_MS = 60_000;

/**
 * Keeps exactly what a review or an undo can still need, and deletes the rest: blobs named by a
 * kept change set (its new contents), and the host's own bytes that an undo of a standing apply
 * would restore. Everything else a box ever sent is removed, so rewriting large files between
 * diffs cannot grow the host's state folder.
 */
export function retainReviewState(input: RetentionInput): RetentionReport {
  const pinned = input.pinned ?? new Set<string>();
  const ids = input.changeSets.ids();
  const kept = new Set([...ids.slice(0, input.keepRecent), ...ids.filter((id) => pinned.has(id))]);
  const droppedChangeSets = ids.filter((id) => !kept.has(id));
  for (const id of droppedChangeSets) input.changeSets.remove(id);

  const needed = new Set<string>(input.keepBlobs ?? []);
  for (const changeSet of input.changeSets.all()) for (const change of changeSet.files) if (change.after?.sha256) needed.add(change.after.sha256);
  for (const journal of input.journal.all()) {
    if (journal.status !== 'applied' && journal.status !== 'pending') continue;
    for (const step of journal.steps) if (step.before.kind === 'file') needed.add(step.before.sha256);
  }

  const cutoff = Date.now() - input.graceMs;
  const report: RetentionReport = { droppedChangeSets, removedBlobs: 0, removedBytes: 0, keptBytes: 0 };
  for (const blob of listBlobs(input.blobDir)) {
    if (needed.has(blob.sha256) || blob.mtimeMs > cutoff) {
      report.keptBytes += blob.size;
      continue;
    }
    fs.rmSync(path.join(input.blobDir, blob.sha256.slice(0, 2), blob.sha256), { force: true });
    report.removedBlobs++;
    report.removedBytes += blob.size;
  }
  // Temp files of writers that died mid-blob.
  for (const name of folderNames(input.blobDir)) {
    if (!name.startsWith('.incoming-')) continue;
    const file = path.join(input.blobDir, name);
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.mtimeMs <= cutoff) fs.rmSync(file, { force: true });
    else report.keptBytes += stat.size;
  }
  return report;
}

/**
 * What stays of a task's review state once its box is gone: no change set can be applied any more
 * (the base snapshot is dropped), so only the bytes undo needs remain.
 */
export function releaseReviewState(files: { blobDir: string; changeSetDir: string; changeSetFile: string; blobWorkDir: string; reviewFile: string }, journal: ApplyJournal): RetentionReport {
  const changeSets = new ChangeSetStore(files.changeSetDir);
  changeSets.clear();
  fs.rmSync(files.changeSetFile, { force: true });
  fs.rmSync(files.reviewFile, { force: true });
  // An apply still running in another process keeps its fresh blobs until it is done.
  const graceMs = blobWorkInFlight(files.blobWorkDir) > 0 ? BLOB_GRACE_MS : 0;
  return retainReviewState({ blobDir: files.blobDir, changeSets, journal, keepRecent: 0, graceMs });
}

/**
 * Marks work that writes blobs nothing names yet (a scan before its change set is saved, an apply's
 * merged contents) as running in this process until done(); a sweep by another process then spares
 * young blobs.
 */
export function markBlobWork(dir: string): { done(): void } {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.writeFileSync(file, '', { mode: 0o600 });
  return { done: () => fs.rmSync(file, { force: true }) };
}

/** Blob work running now, in processes that still exist; markers of dead processes are removed. */
export function blobWorkInFlight(dir: string): number {
  let running = 0;
  for (const name of folderNames(dir)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && processExists(pid)) running++;
    else fs.rmSync(path.join(dir, name), { force: true });
  }
  return running;
}

