import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AirlockError, CancelledError, type ErrorDetails, throwIfAborted } from '../ground/errors.js';
import type { BlobStore } from './blobStore.js';
import { forEachChunk, type HostState, readHostState, sameHostState, unsafeAncestorReason } from './hostState.js';

/** One workspace path moving from one host state to another. File contents live in the blob store. */
export interface Step {
  path: string;
  before: HostState;
  after: HostState;
}

/**
 * Where host work pauses between two pieces (a file checked, a file staged, a path moved). Before
 * the commit point a pause is `cancellable`: stopping there leaves the host exactly as it was.
 * After it, pauses are `committed`: the work only lets the event loop run, and finishes.
 */
export type Pause = 'cancellable' | 'committed';

/**
 * Host work written once, as a generator that yields at each pause, so one body serves both a
 * caller that may block (`runNow`) and a long-lived host that must not (`runInSlices`).
 */
export type HostWork<T> = Generator<Pause, T, undefined>;

/** Runs host work to its end in one go, blocking the event loop meanwhile (tests, one-shot scripts). */
export function runNow<T>(work: HostWork<T>): T {
  for (;;) {
    const next = work.next();
    if (next.done) return next.value;
  }
}

/** How long host work runs before it lets the event loop have a turn: well inside one frame of an editor. */
const SLICE_MS = 8;

/**
 * Runs host work a slice at a time, giving the event loop a turn between slices, so timers, I/O
 * and the editor stay responsive during a thousand-file apply. An abort is honoured at the next
 * cancellable pause (the work cleans up and rejects with CancelledError); once the work is past its
 * commit point the abort is ignored and the work finishes.
 */
export async function runInSlices<T>(work: HostWork<T>, signal?: AbortSignal): Promise<T> {
  throwIfAborted(signal);
  let sliceStart = performance.now();
  let next = work.next();
  while (!next.done) {
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    next = next.value === 'cancellable' && signal?.aborted ? work.throw(new CancelledError()) : work.next();
  }
  return next.value;
}

export interface TransactionOptions {
  /** What the transaction is, for messages and error codes. */
  what?: 'apply' | 'undo';
  /** The task whose workspace this is: the undo that repairs a failed rollback names it. */
  task?: string;
  /** Called once every before-state is backed up and every new file is staged, before the first change to the host: the commit point. */
  journal(steps: Step[]): void;
  /** Called as each step is checked, backed up and staged (the slow part), with the steps prepared so far. */
  onPrepared?(done: number, total: number): void;
  /** Test seam: called after each host mutation; throwing here simulates a failure half-way. */
  afterMutation?(index: number, step: Step): void;
}

type Undo = () => void;

/** A failed transaction; `rolledBack` says whether the host is exactly as before. */
export class TransactionFailed extends AirlockError {
  constructor(message: string, details: ErrorDetails, readonly rolledBack: boolean) {
    super(message, details);
  }
}

/**
 * Moves a set of host paths to their new states all together or not at all. Each step is first
 * checked against the host, its current bytes backed up and its new contents staged as a temp file
 * in the workspace root (the slow part, where a full disk shows up); cancelling there removes the
 * temp files and nothing else changed. Then the journal is written: the commit point. Only unlink,
 * rmdir, mkdir, rename and symlink follow, each with its inverse recorded; any failure runs the
 * inverses backwards, so the host is as it was.
 */
export function* transaction(root: string, steps: Step[], blobs: BlobStore, options: TransactionOptions): HostWork<void> {
  const what = options.what ?? 'apply';
  const planned = new Map(steps.map((step) => [step.path, step.after.kind] as const));
  const tx = randomBytes(6).toString('hex');
  const staged = new Map<Step, string>();
  const discardStaged = () => {
    for (const temp of staged.values()) fs.rmSync(temp, { force: true });
    staged.clear();
  };

  try {
    for (const [index, step] of steps.entries()) {
      check(root, step, planned, blobs, what);
      if (step.after.kind === 'file') {
        try {
          staged.set(step, stage(root, `.airlock-${tx}-${staged.size}`, step.after.sha256, step.after.mode, blobs));
        } catch (error) {
          throw failed(what, options.task, error, []);
        }
      }
      options.onPrepared?.(index + 1, steps.length);
      yield 'cancellable';
    }
  } catch (error) {
    // A cancel, a refused check or a full disk before the commit point: only temp files to remove.
    discardStaged();
    throw error;
  }

  const undos: Array<{ step: Step; undo: Undo }> = [];
  let index = 0;
  // A host folder may have been swapped for a symlink since the check: each path's folders are
  // looked at again right before it changes (and before it is changed back), so no move, mkdir or
  // unlink goes through a link. Node has no renameat, so microseconds between look and call remain.
  const throughLink = (step: Step) => {
    const unsafe = unsafeAncestorReason(root, step.path);
    if (unsafe) throw new AirlockError(`${step.path}: ${unsafe}`, { code: `${what}.unsafePath`, hint: 'Nothing was written.' });
  };
  const mutate = (step: Step, action: () => void, undo: Undo) => {
    throughLink(step);
    action();
    undos.push({ step, undo });
    options.afterMutation?.(index++, step);
  };
  try {
    options.journal(steps);

    const depth = (step: Step) => step.path.split('/').length;
    const removesLeaf = steps.filter((step) => (step.before.kind === 'file' || step.before.kind === 'symlink') && (step.after.kind !== 'file' || step.before.kind === 'symlink'));
    const removesDir = steps.filter((step) => step.before.kind === 'dir' && step.after.kind !== 'dir').sort((a, b) => depth(b) - depth(a));
    const makesDir = steps.filter((step) => step.after.kind === 'dir' && step.before.kind !== 'dir').sort((a, b) => depth(a) - depth(b));
    const places = steps.filter((step) => step.after.kind === 'file');
    const links = steps.filter((step) => step.after.kind === 'symlink');

    for (const step of removesLeaf) {
      const target = path.join(root, step.path);
      mutate(step, () => fs.unlinkSync(target), () => restore(root, step.path, step.before, blobs, `.airlock-${tx}-undo`));
      yield 'committed';
    }
    for (const step of removesDir) {
      const target = path.join(root, step.path);
      mutate(step, () => fs.rmdirSync(target), () => makeDir(target, step.before));
      yield 'committed';
    }
    for (const step of makesDir) {
      const target = path.join(root, step.path);
      mutate(step, () => makeDir(target, step.after), () => fs.rmdirSync(target));
      yield 'committed';
    }
    for (const step of places) {
      const target = path.join(root, step.path);
      const temp = staged.get(step)!;
      const undo = step.before.kind === 'file' ? () => restore(root, step.path, step.before, blobs, `.airlock-${tx}-undo`) : () => fs.unlinkSync(target);
      mutate(step, () => fs.renameSync(temp, target), undo);
      staged.delete(step);
      yield 'committed';
    }
    for (const step of links) {
      const target = path.join(root, step.path);
      const link = step.after as { target: string };
      mutate(step, () => fs.symlinkSync(link.target, target), () => fs.unlinkSync(target));
      yield 'committed';
    }
  } catch (error) {
    // Runs to its end without pausing: nothing else sees the host half rolled back.
    const problems: string[] = [];
    for (const { step, undo } of undos.reverse()) {
      try {
        throughLink(step);
        undo();
      } catch (undoError) {
        problems.push((undoError as Error).message);
      }
    }
    discardStaged();
    throw failed(what, options.task, error, problems);
  }
}

/** The host must still be as planned, the way there free of symlinks, and the step's before-bytes kept for the way back. */
function check(root: string, step: Step, planned: ReadonlyMap<string, HostState['kind']>, blobs: BlobStore, what: 'apply' | 'undo'): void {
  // Removals run first, against the host as it is; everything else against the planned result.
  const unsafe = unsafeAncestorReason(root, step.path, step.after.kind === 'absent' ? new Map() : planned);
  if (unsafe) throw new AirlockError(`${step.path}: ${unsafe}`, { code: `${what}.unsafePath`, hint: 'Nothing was written.' });
  const now = readHostState(root, step.path);
  if (!sameHostState(now, step.before)) {
    throw new AirlockError(`${step.path} changed on the host while ${what === 'undo' ? 'undoing' : 'applying'} (now ${now.kind}, expected ${step.before.kind})`, { code: `${what}.hostChanged`, hint: 'Nothing was written; run the command again.' });
  }
  if (step.before.kind === 'file' && !blobs.has(step.before.sha256)) backUp(root, step.path, step.before.sha256, blobs);
  if (step.after.kind === 'file' && !blobs.has(step.after.sha256)) {
    throw new AirlockError(`content ${step.after.sha256} for ${step.path} is missing from the blob store`, { code: `${what}.contentMissing`, hint: 'Nothing was written. Look at the task\'s changes again and review those.' });
  }
}

/** The error for a transaction that failed at `error`: rolled back when every inverse ran. */
function failed(what: 'apply' | 'undo', task: string | undefined, error: unknown, problems: string[]): TransactionFailed {
  const reason = AirlockError.is(error) ? error.message : (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  if (problems.length) {
    return new TransactionFailed(
      `${what} failed (${reason}) and ${problems.length} change(s) could not be rolled back: ${problems.join('; ')}`,
      { code: `${what}.notRolledBack`, hint: 'Undo the last apply of this task to restore the host from its undo record.', actions: task ? [{ kind: 'undoApply', task }] : [] },
      false,
    );
  }
  return new TransactionFailed(`${what} failed (${reason}); the host was left exactly as it was`, { code: `${what}.rolledBack`, hint: 'Fix the cause (disk space, permissions) and run the command again.' }, true);
}

function backUp(root: string, rel: string, expected: string, blobs: BlobStore): void {
  const writer = blobs.writer();
  try {
    forEachChunk(path.join(root, rel), (chunk) => writer.write(chunk));
    writer.commit(expected);
  } catch (error) {
    writer.discard();
    throw error;
  }
}

/** Copies a blob into a new temp file in the workspace root, created exclusively (never through a link). */
function stage(root: string, name: string, sha: string, mode: number, blobs: BlobStore): string {
  const temp = path.join(root, name);
  const out = fs.openSync(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  try {
    forEachChunk(blobs.file(sha), (chunk) => {
      for (let written = 0; written < chunk.length; ) written += fs.writeSync(out, chunk, written);
    });
    // Permission bits only: setuid, setgid and sticky never reach the host.
    fs.fchmodSync(out, mode & 0o777);
    fs.fsyncSync(out);
  } catch (error) {
    fs.closeSync(out);
    fs.rmSync(temp, { force: true });
    throw error;
  }
  fs.closeSync(out);
  return temp;
}

function restore(root: string, rel: string, state: HostState, blobs: BlobStore, tempName: string): void {
  const target = path.join(root, rel);
  if (state.kind === 'file') fs.renameSync(stage(root, tempName, state.sha256, state.mode, blobs), target);
  else if (state.kind === 'symlink') fs.symlinkSync(state.target, target);
  else if (state.kind === 'dir') makeDir(target, state);
}

/** New folders are 0755; a restored one gets its own mode back, set explicitly so the umask cannot change it. */
function makeDir(target: string, state: HostState): void {
  fs.mkdirSync(target);
  fs.chmodSync(target, state.kind === 'dir' && state.mode !== undefined ? state.mode & 0o777 : 0o755);
}
