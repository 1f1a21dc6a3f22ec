import * as fs from 'node:fs';
import { AirlockError, type ErrorDetails } from '../ground/errors.js';
import { printableLine } from '../ground/printable.js';
import { type OnProgress, progressDone, weightedProgress } from '../ground/progress.js';
import type { ApplyJournal, Journal } from './applyJournal.js';
import type { BlobStore } from './blobStore.js';
import type { ChangeContent } from './buildChangeSet.js';
import { symlinkTargetInside, unsafePathReason } from './changePath.js';
import type { ChangeSet, FileChange } from './changeSet.js';
import { type HostState, hostKind, readHostState, sameHostState, unsafeAncestorReason } from './hostState.js';
import { type HostWork, runInSlices, runNow, type Step, transaction, TransactionFailed, type TransactionOptions } from './hostTransaction.js';
import { applySelectedHunks, diffableText, filePatch } from './textDiff.js';
import { mergeThreeWay } from './threeWayMerge.js';

export interface ApplySelection {
  /** Paths (or folders) to apply; none means every change that is neither risky nor refused. */
  paths?: string[];
  /** Risky paths the person chose one by one. */
  allowRisky?: string[];
  /** Per path, the 1-based hunks to take; other hunks of that file stay as on the host. */
  hunks?: Record<string, number[]>;
  /**
   * Per path, the sha256 (in the task's blob store) of the bytes a reviewer settled on in place of
   * the box's: what they last saw after rejecting hunks or editing the proposed text. Only for a
   * chosen change that leaves a regular file; never together with `hunks` for the same path.
   */
  content?: Record<string, string>;
  /**
   * `paths` name changes exactly, never folders: a review lists a deleted folder and the files in
   * it as changes of their own, and a file rejected there must not go with its folder.
   */
  exact?: boolean;
}

export interface AppliedPath {
  path: string;
  action: 'write' | 'merge' | 'delete' | 'symlink' | 'mkdir' | 'rmdir';
  /** The bytes written. */
  sha256?: string;
  /** The host's bytes that were replaced or deleted (kept for undo). */
  previousSha256?: string;
}

export interface ApplyReport {
  /** Undo record id; undefined when nothing was written. */
  id?: string;
  written: AppliedPath[];
  /** Chosen but not applied, with why: a conflict, a risky file not chosen explicitly, an unsafe path… */
  refused: PathNote[];
  /** Not chosen by a blanket apply (risky or never appliable), with why. */
  held: PathNote[];
  /** Already identical on the host. */
  unchanged: string[];
}

export interface ApplyContext {
  root: string;
  changeSet: ChangeSet;
  content: ChangeContent;
  blobs: BlobStore;
  journal: ApplyJournal;
  afterMutation?: TransactionOptions['afterMutation'];
}

/** What planning reads: the host, the change set and the bytes on both sides. */
export type PlanContext = Pick<ApplyContext, 'root' | 'changeSet' | 'content' | 'blobs'>;

const covers = (named: string, rel: string) => {
  const prefix = named.replace(/\/+$/, '');
  return rel === prefix || rel.startsWith(`${prefix}/`);
};

/** A path that an apply or a push did not take, and why. */
export interface PathNote {
  path: string;
  /** Why, in words that fit every front end: it never names a front end's flag or button. */
  reason: string;
  /**
   * Set when choosing the path on its own would take it (a risky file), for front ends to say how
   * in their own words: `riskyHeld`, left out of a blanket choice; `riskyNotChosen`, named but not
   * chosen on its own. `conflict`: the host changed the path since the task started in a way that
   * cannot be merged, and its version was kept. Unset otherwise (a refusal, no such change).
   */
  code?: 'riskyHeld' | 'riskyNotChosen' | 'conflict';
}

/** The end of a `riskyHeld` reason: what a person does to take the file, in neutral words. */
export const CHOOSE_ON_ITS_OWN = ' (choose it on its own to take it)';

/**
 * An apply or a push that took nothing, or was named paths it cannot take: its message lists each
 * path's note, and the notes stay data, so a front end can word how to take a risky file its own
 * way (`describe`).
 */
export class PathsNotTaken extends AirlockError {
  constructor(private readonly compose: (notes: string) => string, readonly notes: readonly PathNote[], details: ErrorDetails) {
    super(compose(listNotes(notes, (note) => note.reason)), details);
  }

  /** The message, with each note's reason as `reason` words it. */
  describe(reason: (note: PathNote) => string): string {
    return this.compose(listNotes(this.notes, reason));
  }
}

// Paths and reasons name the box's files: one printable line each, so a name cannot forge a line.
const listNotes = (notes: readonly PathNote[], reason: (note: PathNote) => string) => notes.map((note) => `${printableLine(note.path)}: ${printableLine(reason(note))}`).join('; ');

export interface SelectedChanges {
  chosen: FileChange[];
  /** Not taken by a blanket choice (risky or never appliable), with why. */
  held: PathNote[];
  /** Named but not takeable, with why. */
  refused: PathNote[];
}

/**
 * Which changes a selection takes: named paths (or folders), risky paths chosen one by one, files
 * with chosen hunks; with nothing named, every change that is neither risky nor refused. The one
 * reading of a selection for apply, push and the approval requests that list their files.
 */
export function selectChanges(files: FileChange[], selection: ApplySelection = {}): SelectedChanges {
  const result: SelectedChanges = { chosen: [], held: [], refused: [] };
  const named = selection.paths ?? [];
  const allowRisky = new Set(selection.allowRisky ?? []);
  const hunks = new Map(Object.entries(selection.hunks ?? {}));
  const names = (rel: string, change: FileChange) => (selection.exact ? rel === change.path : covers(rel, change.path)) || change.oldPath === rel;
  // A review names a thousand files exactly: looked up, not scanned per change.
  const exactly = selection.exact ? new Set(named) : undefined;
  const known = new Set(files.flatMap((change) => (change.oldPath !== undefined ? [change.path, change.oldPath] : [change.path])));
  for (const rel of [...named, ...allowRisky, ...hunks.keys(), ...Object.keys(selection.content ?? {})]) {
    if (!known.has(rel) && (exactly || !files.some((change) => names(rel, change)))) result.refused.push({ path: rel, reason: 'no such change in this task' });
  }
  for (const change of files) {
    const explicitlyNamed = exactly ? exactly.has(change.path) || (change.oldPath !== undefined && exactly.has(change.oldPath)) : named.some((rel) => names(rel, change));
    const riskyOk = allowRisky.has(change.path);
    if (named.length && !explicitlyNamed && !riskyOk && !hunks.has(change.path)) continue;
    if (!named.length && !riskyOk && !hunks.has(change.path) && (change.refusal || change.risk.length)) {
      result.held.push(change.refusal ? { path: change.path, reason: change.refusal } : { path: change.path, reason: `risky: ${change.risk.join('; ')}${CHOOSE_ON_ITS_OWN}`, code: 'riskyHeld' });
      continue;
    }
    if (change.refusal) result.refused.push({ path: change.path, reason: change.refusal });
    else if (change.risk.length && !riskyOk) result.refused.push({ path: change.path, reason: `risky: ${change.risk.join('; ')}; it needs an explicit choice`, code: 'riskyNotChosen' });
    else result.chosen.push(change);
  }
  return result;
}

/** Long host work a front end can follow and stop: see `runInSlices` for where a stop takes effect. */
export interface HostWorkOptions {
  signal?: AbortSignal;
  onProgress?: OnProgress;
}

/**
 * How long checking is next to writing, for the fraction only: both read every file, and writing
 * also copies it, syncs it and moves it into place.
 */
const APPLY_WEIGHTS = { checking: 1, applying: 2 } as const;
const UNDO_WEIGHTS = { checking: 1, undoing: 2 } as const;

/**
 * Applies the chosen part of a change set to the host workspace. Each change is planned against
 * the host as it is now (three-way merged when the host changed since the snapshot); refusals are
 * per file, and everything planned is then written as one transaction with an undo record first.
 * At once, blocking until done; long-lived hosts use `applyChangesAsync`.
 */
export function applyChanges(context: ApplyContext, selection: ApplySelection = {}): ApplyReport {
  return runNow(applyWork(context, selection));
}

/**
 * Applies in slices, letting the event loop run meanwhile, with progress: step `checking` (each
 * chosen change planned against the host), then `applying` (each path checked again, backed up and
 * staged), in files. An abort before the journal is written (the commit point) rejects with
 * CancelledError and leaves the host exactly as it was, with no undo record. After it, the
 * abort is ignored: what is left is only renames, unlinks and mkdirs of what is already staged,
 * quick to finish, and a finished apply has an undo record, where stopping half-way or rolling
 * back would redo as much host work for nothing.
 */
export function applyChangesAsync(context: ApplyContext, selection: ApplySelection = {}, { signal, onProgress }: HostWorkOptions = {}): Promise<ApplyReport> {
  return runInSlices(applyWork(context, selection, onProgress), signal);
}

/**
 * The checking half of an apply: every chosen change planned against the host as it is now, and
 * nothing written. What a review shows as conflicts before anyone presses apply.
 */
export function checkAgainstHost(context: PlanContext, selection: ApplySelection = {}): Pick<ApplyReport, 'refused' | 'held' | 'unchanged'> & { planned: string[] } {
  const { planner, report } = runNow(planWork(context, selection));
  return { refused: report.refused, held: report.held, unchanged: report.unchanged, planned: planner.written.map((entry) => entry.path) };
}

function* planWork(context: PlanContext, selection: ApplySelection, progress?: OnProgress): HostWork<{ planner: Planner; report: ApplyReport; root: string }> {
  const root = fs.realpathSync(context.root);
  const report: ApplyReport = { written: [], refused: [], held: [], unchanged: [] };
  const { chosen, held, refused } = selectChanges(context.changeSet.files, selection);
  report.held.push(...held);
  report.refused.push(...refused);
  const hunks = new Map(Object.entries(selection.hunks ?? {}));
  const content = new Map(Object.entries(selection.content ?? {}));

  const planner = new Planner(root, context);
  // Removals before creations, so a file↔dir change plans against its result: removals deepest first (a folder empties before it goes), creations shallowest first.
  const order = (change: FileChange) => (change.after ? 1000 + change.path.split('/').length : -change.path.split('/').length);
  const checking = { step: 'checking', message: `checking ${chosen.length} change(s) against the workspace`, unit: 'files', total: chosen.length } as const;
  progress?.({ ...checking, done: 0 });
  for (const [index, change] of chosen.sort((a, b) => order(a) - order(b)).entries()) {
    try {
      const outcome = planner.plan(change, hunks.get(change.path), content.get(change.path));
      if (outcome === 'unchanged') report.unchanged.push(change.path);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      report.refused.push({ path: change.path, reason: error.message, ...(error.conflict ? { code: 'conflict' as const } : {}) });
    }
    progress?.({ ...checking, done: index + 1 });
    yield 'cancellable';
  }
  return { planner, report, root };
}

function* applyWork(context: ApplyContext, selection: ApplySelection, onProgress?: OnProgress): HostWork<ApplyReport> {
  const progress = weightedProgress(onProgress, APPLY_WEIGHTS);
  const { planner, report, root } = yield* planWork(context, selection, progress);
  const applying = { step: 'applying', message: `writing ${planner.steps.length} path(s) to the workspace`, unit: 'files', total: planner.steps.length } as const;
  if (planner.steps.length === 0) {
    progressDone(onProgress, { ...applying, done: 0 });
    return report;
  }

  progress({ ...applying, done: 0 });
  const id = context.journal.newId();
  const journal: Journal = { id, task: context.changeSet.task, root, createdAt: new Date().toISOString(), status: 'pending', steps: [] };
  try {
    yield* transaction(root, planner.steps, context.blobs, {
      task: context.changeSet.task,
      journal: (steps) => context.journal.write({ ...journal, steps }),
      onPrepared: (done) => progress({ ...applying, done }),
      afterMutation: context.afterMutation,
    });
  } catch (error) {
    // A clean rollback leaves nothing to undo; otherwise the pending record is what undo restores from. A cancel wrote no record.
    if (error instanceof TransactionFailed && error.rolledBack) context.journal.write({ ...journal, steps: planner.steps, status: 'rolled-back' });
    throw error;
  }
  context.journal.write({ ...journal, steps: planner.steps, status: 'applied' });
  report.id = id;
  report.written = planner.written;
  progressDone(onProgress, { ...applying, done: applying.total });
  return report;
}

export interface UndoReport {
  id: string;
  restored: string[];
}

export type UndoContext = Pick<ApplyContext, 'root' | 'blobs' | 'journal' | 'afterMutation'>;

/** Reverts the newest apply that still stands, exactly, at once; refuses if the host changed those paths since. */
export function undoLastApply(context: UndoContext, { force = false } = {}): UndoReport {
  return runNow(undoWork(context, force));
}

/**
 * `undoLastApply` in slices, with progress (`checking`, then `undoing`, in files). As with apply,
 * an abort before the first host change leaves the host and the undo record as they were; after
 * it, the undo finishes.
 */
export function undoLastApplyAsync(context: UndoContext, { force = false, signal, onProgress }: HostWorkOptions & { force?: boolean } = {}): Promise<UndoReport> {
  return runInSlices(undoWork(context, force, onProgress), signal);
}

function* undoWork(context: UndoContext, force: boolean, onProgress?: OnProgress): HostWork<UndoReport> {
  const progress = weightedProgress(onProgress, UNDO_WEIGHTS);
  const journal = context.journal.last();
  if (!journal) throw new AirlockError('there is no apply to undo for this task', { code: 'undo.nothingToUndo', hint: 'Nothing was changed.' });
  const root = fs.realpathSync(context.root);
  if (root !== journal.root) throw new AirlockError(`the last apply went to ${journal.root}, not ${root}`, { code: 'undo.otherWorkspace', hint: 'Run undo against the workspace the task was started from.' });
  const steps: Step[] = [];
  const drifted: string[] = [];
  const checking = { step: 'checking', message: `checking ${journal.steps.length} path(s) against the workspace`, unit: 'files', total: journal.steps.length } as const;
  progress({ ...checking, done: 0 });
  for (const [index, step] of journal.steps.entries()) {
    const now = readHostState(root, step.path);
    // A pending record is from an apply that never finished: some paths may still be as before.
    const neverChanged = journal.status === 'pending' && sameHostState(now, step.before);
    if (!neverChanged) {
      if (!sameHostState(now, step.after) && !force) drifted.push(step.path);
      else steps.push({ path: step.path, before: now, after: step.before });
    }
    progress({ ...checking, done: index + 1 });
    yield 'cancellable';
  }
  if (drifted.length) {
    throw new AirlockError(`undo would lose host edits made after the apply: ${drifted.join(', ')}`, {
      code: 'undo.hostEdited',
      hint: 'Nothing was changed. Undo can restore those paths anyway, discarding the edits.',
      actions: [{ kind: 'undoApply', task: journal.task, overwriteHostEdits: true }],
    });
  }
  const undoing = { step: 'undoing', message: `restoring ${steps.length} path(s) in the workspace`, unit: 'files', total: steps.length } as const;
  progress({ ...undoing, done: 0 });
  yield* transaction(root, steps, context.blobs, { what: 'undo', task: journal.task, journal: () => undefined, onPrepared: (done) => progress({ ...undoing, done }), afterMutation: context.afterMutation });
  context.journal.write({ ...journal, status: 'undone' });
  progressDone(onProgress, { ...undoing, done: undoing.total });
  return { id: journal.id, restored: steps.map((step) => step.path) };
}

class Refusal extends Error {
  /** Set when the host changed the path since the task started: its version was kept. */
  constructor(message: string, readonly conflict = false) {
    super(message);
  }
}

/** Turns chosen changes into host steps, tracking what this apply itself will create or remove. */
class Planner {
  readonly steps: Step[] = [];
  readonly written: AppliedPath[] = [];
  private readonly planned = new Map<string, HostState['kind']>();

  constructor(private readonly root: string, private readonly context: PlanContext) {}

  private state(rel: string): HostState {
    const kind = this.planned.get(rel);
    if (kind === 'absent') return { kind: 'absent' };
    return readHostState(this.root, rel);
  }

  private add(rel: string, before: HostState, after: HostState, action: AppliedPath['action'], sha256?: string) {
    if (after.kind === 'file') after = { ...after, size: fs.statSync(this.context.blobs.file(after.sha256)).size };
    // One step per path: a type change removes and recreates the same path in one move.
    const earlier = this.steps.find((step) => step.path === rel);
    if (earlier) earlier.after = after;
    else this.steps.push({ path: rel, before, after });
    this.planned.set(rel, after.kind);
    this.written.push({ path: rel, action, ...(sha256 ? { sha256 } : {}), ...(before.kind === 'file' ? { previousSha256: before.sha256 } : {}) });
  }

  /** Missing parents become planned directories; a symlink or file on the way refuses the change. */
  private ensureParents(rel: string) {
    const unsafe = unsafeAncestorReason(this.root, rel, this.planned);
    if (unsafe) throw new Refusal(unsafe);
    const parts = rel.split('/');
    for (let index = 1; index < parts.length; index++) {
      const dir = parts.slice(0, index).join('/');
      if (this.state(dir).kind === 'absent' && this.planned.get(dir) !== 'dir') this.add(dir, { kind: 'absent' }, { kind: 'dir' }, 'mkdir');
    }
  }

  /** Plans one change completely or not at all: a refused half (say, a rename's new path) undoes the other. */
  plan(change: FileChange, chosenHunks: number[] | undefined, reviewed: string | undefined): 'planned' | 'unchanged' {
    const steps = this.steps.map((step) => ({ ...step }));
    const written = this.written.length;
    const planned = new Map(this.planned);
    try {
      return this.planChange(change, chosenHunks, reviewed);
    } catch (error) {
      this.steps.splice(0, this.steps.length, ...steps);
      this.written.splice(written);
      this.planned.clear();
      for (const [key, value] of planned) this.planned.set(key, value);
      throw error;
    }
  }

  private planChange(change: FileChange, chosenHunks: number[] | undefined, reviewed: string | undefined): 'planned' | 'unchanged' {
    // A change set reaches apply from a store or a caller, not only from buildChangeSet: a path that
    // lost its refusal on the way (`../x`, `/etc/x`, `.git/config`) must not be joined onto the root.
    const unsafe = unsafePathReason(change.path) ?? (change.oldPath !== undefined ? unsafePathReason(change.oldPath) : undefined);
    if (unsafe) throw new Refusal(unsafe);
    const { before, after } = change;
    if (reviewed !== undefined) {
      if (chosenHunks) throw new Refusal('hunks and reviewed content cannot both be chosen for one file');
      if (after?.kind !== 'file') throw new Refusal('reviewed content can only replace a file the task leaves');
      if (!this.context.blobs.has(reviewed)) throw new Refusal('the reviewed content is no longer on this machine');
    }
    if (chosenHunks && !(change.status === 'modified' && before?.kind === 'file' && after?.kind === 'file' && change.hunks > 0)) {
      throw new Refusal('hunks can only be chosen for a modified text file');
    }
    const oldPath = change.oldPath ?? change.path;
    const stepCount = this.steps.length;
    // The old side first: a rename or type change removes it (only if the host still has the base).
    if (before && (change.status === 'renamed' || change.status === 'deleted' || (after && before.kind !== after.kind))) {
      this.planRemoval(oldPath, change);
    }
    if (!after) return this.steps.length > stepCount ? 'planned' : 'unchanged';
    if (after.kind === 'dir') {
      const host = this.state(change.path);
      if (host.kind === 'dir') return 'unchanged';
      if (host.kind !== 'absent') throw new Refusal(`the host has a ${host.kind} here`);
      this.ensureParents(change.path);
      this.add(change.path, host, { kind: 'dir' }, 'mkdir');
      return 'planned';
    }
    if (after.kind === 'symlink') return this.planSymlink(change, after.target ?? '');
    if (after.kind !== 'file' || !after.sha256) throw new Refusal('only regular files, directories and symlinks cross back');
    return this.planFile(change, reviewed ?? after.sha256, after.mode, chosenHunks);
  }

  private planRemoval(rel: string, change: FileChange) {
    const before = change.before!;
    const host = this.state(rel);
    if (host.kind === 'absent') return;
    const matchesBase =
      (before.kind === 'file' && host.kind === 'file' && host.sha256 === before.sha256) ||
      (before.kind === 'symlink' && host.kind === 'symlink' && host.target === before.target) ||
      (before.kind === 'dir' && host.kind === 'dir');
    if (!matchesBase) throw new Refusal(`conflict: ${rel} changed on the host since the task started; not removing it`, true);
    const unsafe = unsafeAncestorReason(this.root, rel, this.planned);
    if (unsafe) throw new Refusal(unsafe);
    if (host.kind === 'dir') {
      const left = fs.readdirSync(`${this.root}/${rel}`).filter((name) => this.planned.get(`${rel}/${name}`) !== 'absent');
      if (left.length) throw new Refusal(`the host has other files in ${rel}/ (${left.slice(0, 3).join(', ')}); not removing it`);
      this.add(rel, host, { kind: 'absent' }, 'rmdir');
    } else this.add(rel, host, { kind: 'absent' }, 'delete');
  }

  private planSymlink(change: FileChange, target: string): 'planned' | 'unchanged' {
    const resolved = symlinkTargetInside(change.path, target);
    if (resolved === undefined) throw new Refusal(`symlink points outside the workspace (${target})`);
    // Lexically inside is not enough if the way there crosses a host symlink that leads out.
    const parts = resolved ? resolved.split('/') : [];
    for (let index = 1; index <= parts.length; index++) {
      const prefix = parts.slice(0, index).join('/');
      if ((this.planned.get(prefix) ?? hostKind(this.root, prefix)) === 'symlink') throw new Refusal(`symlink target goes through ${prefix}, which is a symlink on the host`);
    }
    const host = this.state(change.path);
    if (host.kind === 'symlink' && host.target === target) return 'unchanged';
    if (host.kind !== 'absent' && !(change.before?.kind === 'symlink' && host.kind === 'symlink' && host.target === change.before.target)) {
      throw new Refusal(`conflict: the host has a different ${host.kind} at ${change.path}`, true);
    }
    this.ensureParents(change.path);
    this.add(change.path, host, { kind: 'symlink', target }, 'symlink');
    return 'planned';
  }

  private planFile(change: FileChange, sha: string, containerMode: number, chosenHunks: number[] | undefined): 'planned' | 'unchanged' {
    const { blobs, content } = this.context;
    const host = this.state(change.path);
    const base = change.status === 'modified' && change.before?.kind === 'file' ? change.before : undefined;
    const execChanged = base ? Boolean(base.mode & 0o111) !== Boolean(containerMode & 0o111) : true;
    let bytesSha = sha;
    if (chosenHunks) {
      const beforeText = diffableText(content.base.bytes(change.path));
      const afterText = diffableText(blobs.read(sha));
      if (beforeText === undefined || afterText === undefined) throw new Refusal('hunks can only be chosen for a text file');
      try {
        bytesSha = blobs.put(Buffer.from(applySelectedHunks(beforeText, filePatch(change.path, change.path, beforeText, afterText), chosenHunks)));
      } catch (error) {
        throw new Refusal((error as Error).message);
      }
    }
    const newMode = (hostMode: number) => {
      const perms = hostMode & 0o777;
      if (!execChanged) return perms;
      return containerMode & 0o111 ? perms | ((perms & 0o444) >> 2) : perms & ~0o111;
    };

    if (host.kind === 'absent') {
      if (base) throw new Refusal('conflict: deleted on the host since the task started', true);
      this.ensureParents(change.path);
      this.add(change.path, host, { kind: 'file', sha256: bytesSha, mode: containerMode & 0o111 ? 0o755 : 0o644, size: 0 }, 'write', bytesSha);
      return 'planned';
    }
    if (host.kind !== 'file') throw new Refusal(host.kind === 'symlink' ? 'the host path is a symlink; Airlock never writes through symlinks' : `the host has a ${host.kind} here`);
    const unsafe = unsafeAncestorReason(this.root, change.path, this.planned);
    if (unsafe) throw new Refusal(unsafe);
    const mode = newMode(host.mode);
    const finalMode = base ? mode : host.mode & 0o777;
    if (host.sha256 === bytesSha && (host.mode & 0o777) === mode) return 'unchanged';
    if (!base) {
      if (host.sha256 === bytesSha) return 'unchanged';
      throw new Refusal('conflict: the host already has a different file here', true);
    }
    if (host.sha256 === base.sha256 || host.sha256 === bytesSha) {
      this.add(change.path, host, { kind: 'file', sha256: bytesSha, mode: finalMode, size: 0 }, 'write', bytesSha);
      return 'planned';
    }
    // The host changed since the snapshot: merge base → host and base → container, or refuse.
    const baseText = diffableText(content.base.bytes(change.path));
    const hostText = diffableText(fs.readFileSync(`${this.root}/${change.path}`));
    const containerText = diffableText(blobs.read(bytesSha));
    if (baseText === undefined || hostText === undefined || containerText === undefined) throw new Refusal('conflict: changed on the host since the task started, and it is not text that can be merged', true);
    const merged = mergeThreeWay(baseText, hostText, containerText);
    if (!merged.clean) throw new Refusal(`conflict: changed on the host since the task started (${merged.conflicts} conflicting region${merged.conflicts === 1 ? '' : 's'}); the host file was left as it is`, true);
    const mergedSha = blobs.put(Buffer.from(merged.text));
    this.add(change.path, host, { kind: 'file', sha256: mergedSha, mode: finalMode, size: 0 }, 'merge', mergedSha);
    return 'planned';
  }
}
