import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from '../ground/errors.js';
import type { BlobStore } from './blobStore.js';
import { forEachChunk, type HostState, readHostState, sameHostState, unsafeAncestorReason } from './hostState.js';

/** One workspace path moving from one host state to another. File contents live in the blob store. */
export interface Step {
  path: string;
  before: HostState;
  after: HostState;
}

export interface TransactionOptions {
  /** What the transaction is, for messages: "apply" or "undo". */
  what?: string;
  /** Called once every before-state is backed up and every new file is staged, before the first change to the host. */
  journal(steps: Step[]): void;
  /** Test seam: called after each host mutation; throwing here simulates a failure half-way. */
  afterMutation?(index: number, step: Step): void;
}

type Undo = () => void;

/** A failed transaction; `rolledBack` says whether the host is exactly as before. */
export class TransactionFailed extends AirlockError {
  constructor(message: string, hint: string, readonly rolledBack: boolean) {
    super(message, hint);
  }
}

/**
 * Moves a set of host paths to their new states all together or not at all. New contents are
 * staged as temp files in the workspace root first (the slow part, where a full disk shows up);
 * then come only unlink, rmdir, mkdir, rename and symlink, each with its inverse recorded. Any
 * failure runs the inverses backwards, so the host is as it was.
 */
export function runTransaction(root: string, steps: Step[], blobs: BlobStore, options: TransactionOptions): void {
  const what = options.what ?? 'apply';
  const planned = new Map(steps.map((step) => [step.path, step.after.kind] as const));
  for (const step of steps) {
    // Removals run first, against the host as it is; everything else against the planned result.
    const unsafe = unsafeAncestorReason(root, step.path, step.after.kind === 'absent' ? new Map() : planned);
    if (unsafe) throw new AirlockError(`${step.path}: ${unsafe}`, 'Nothing was written.');
    const now = readHostState(root, step.path);
    if (!sameHostState(now, step.before)) throw new AirlockError(`${step.path} changed on the host while applying (now ${now.kind}, expected ${step.before.kind})`, 'Nothing was written; run the command again.');
    if (step.before.kind === 'file' && !blobs.has(step.before.sha256)) backUp(root, step.path, step.before.sha256, blobs);
    if (step.after.kind === 'file' && !blobs.has(step.after.sha256)) throw new Error(`content ${step.after.sha256} for ${step.path} is missing from the blob store`);
  }

  const tx = randomBytes(6).toString('hex');
  const staged = new Map<Step, string>();
  const undos: Undo[] = [];
  let index = 0;
  const mutate = (step: Step, action: () => void, undo: Undo) => {
    action();
    undos.push(undo);
    options.afterMutation?.(index++, step);
  };
  try {
    for (const step of steps) if (step.after.kind === 'file') staged.set(step, stage(root, `.airlock-${tx}-${staged.size}`, step.after.sha256, step.after.mode, blobs));
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
    }
    for (const step of removesDir) {
      const target = path.join(root, step.path);
      mutate(step, () => fs.rmdirSync(target), () => makeDir(target, step.before));
    }
    for (const step of makesDir) {
      const target = path.join(root, step.path);
      mutate(step, () => makeDir(target, step.after), () => fs.rmdirSync(target));
    }
    for (const step of places) {
      const target = path.join(root, step.path);
      const temp = staged.get(step)!;
      const undo = step.before.kind === 'file' ? () => restore(root, step.path, step.before, blobs, `.airlock-${tx}-undo`) : () => fs.unlinkSync(target);
      mutate(step, () => fs.renameSync(temp, target), undo);
      staged.delete(step);
    }
    for (const step of links) {
      const target = path.join(root, step.path);
      if (step.after.kind === 'symlink') mutate(step, () => fs.symlinkSync((step.after as { target: string }).target, target), () => fs.unlinkSync(target));
    }
  } catch (error) {
    const problems: string[] = [];
    for (const undo of undos.reverse()) {
      try {
        undo();
      } catch (undoError) {
        problems.push((undoError as Error).message);
      }
    }
    for (const temp of staged.values()) fs.rmSync(temp, { force: true });
    const reason = AirlockError.is(error) ? error.message : (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    if (problems.length) throw new TransactionFailed(`${what} failed (${reason}) and ${problems.length} change(s) could not be rolled back: ${problems.join('; ')}`, 'Run `airlock undo ID` to restore from the undo record.', false);
    throw new TransactionFailed(`${what} failed (${reason}); the host was left exactly as it was`, 'Fix the cause (disk space, permissions) and run the command again.', true);
  }
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
