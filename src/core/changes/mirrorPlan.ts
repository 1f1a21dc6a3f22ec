import type { BaseMove } from '../snapshot/baseUpdate.js';
import type { ManifestEntry } from '../snapshot/snapshotManifest.js';
import type { BoxEntry, BoxState } from './mirrorBox.js';

/**
 * What one mirror batch does, decided from three views of each path: the host now, the base
 * snapshot (what the box was given), and the box now. Pure, so every case is a unit test:
 *
 * - host equals base: nothing to carry;
 * - box equals host: nothing to write, and the base stays (after an apply the host and the box
 *   agree on the box's change; moving the base would hide it from the review, and an undo would
 *   then carry the old bytes back over the box's work);
 * - box equals base: the box never touched it, so the host's state is written and becomes the base;
 * - otherwise both sides changed it: a conflict, left alone on both sides (the review's merge
 *   settles it against the old base).
 */

/** Why a changed host path is not carried into the box. */
export type MirrorSkipReason = 'secret' | 'credentials' | 'ignored' | 'git' | 'unsupported' | 'tooLarge' | 'unreadable';

/** A host path as the mirror reads it. */
export type HostView =
  | { kind: 'absent' }
  | { kind: 'dir'; mode: number }
  | { kind: 'file'; mode: number; size: number; sha256: string; bytes: Buffer; mtime: Date }
  | { kind: 'symlink'; target: string }
  | { kind: 'skipped'; reason: MirrorSkipReason };

export interface MirrorPlan {
  /** Paths to remove in the box before writing: files and links first, then folders deepest first. */
  removals: Array<{ path: string; dir: boolean }>;
  /** Folders (outermost first), then files and links. */
  writes: BoxEntry[];
  /** How the base moves for each path once its removal or write is done. */
  moves: Map<string, BaseMove>;
  /** For each planned path, the removals and writes it needs (itself, and folders made for it). */
  needs: Map<string, { removal?: string; folders: string[] }>;
  /** Folders already in the box that join the base, with their inode (for the scanner's folder check). */
  knownFolders: Map<string, string>;
  /** Folders the archive makes: their inodes are read after the write. */
  newFolders: string[];
  /** The batch's own paths that will be synced (not folders made on the way). */
  synced: string[];
  conflicts: string[];
  /** The box already has what the host has (an applied change, say): nothing to do. */
  agreed: string[];
  skipped: Map<MirrorSkipReason, string[]>;
}

const isExec = (mode: number) => (mode & 0o111) !== 0;

/** Host and base hold the same thing, as the review compares (bytes or target, exec bit). */
export function hostMatchesBase(host: HostView, base: ManifestEntry | undefined): boolean {
  if (!base) return host.kind === 'absent';
  if (host.kind === 'file') return base.type === 'file' && base.sha256 === host.sha256 && isExec(base.mode) === isExec(host.mode);
  if (host.kind === 'symlink') return base.type === 'symlink' && base.target === host.target;
  if (host.kind === 'dir') return base.type === 'dir';
  return false;
}

function boxMatchesBase(box: BoxState, base: ManifestEntry | undefined): boolean {
  if (!base) return box.kind === 'absent';
  if (box.kind === 'file') return base.type === 'file' && box.sha256 !== undefined && box.sha256 === base.sha256 && isExec(box.mode) === isExec(base.mode) && (box.mode & 0o7000) === 0;
  if (box.kind === 'symlink') return base.type === 'symlink' && box.target === base.target;
  if (box.kind === 'dir') return base.type === 'dir';
  return false;
}

function boxMatchesHost(box: BoxState, host: HostView): boolean {
  if (host.kind === 'absent') return box.kind === 'absent';
  if (host.kind === 'file') return box.kind === 'file' && box.sha256 === host.sha256 && isExec(box.mode) === isExec(host.mode) && (box.mode & 0o7000) === 0;
  if (host.kind === 'symlink') return box.kind === 'symlink' && box.target === host.target;
  if (host.kind === 'dir') return box.kind === 'dir';
  return false;
}

export const ancestorsOf = (rel: string): string[] => {
  const parts = rel.split('/');
  return parts.slice(0, -1).map((_, index) => parts.slice(0, index + 1).join('/'));
};

const depth = (rel: string) => rel.split('/').length;
const byDepth = (a: string, b: string) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0);

/**
 * The paths whose host state differs from the base (and so need the box's state), and the
 * skipped ones. A new empty host folder is no change: the copy never carries empty folders.
 */
export function mirrorCandidates(paths: readonly string[], host: ReadonlyMap<string, HostView>, base: Pick<ReadonlyMap<string, ManifestEntry>, 'get'>): { candidates: string[]; probe: string[]; skipped: Map<MirrorSkipReason, string[]> } {
  const candidates: string[] = [];
  const skipped = new Map<MirrorSkipReason, string[]>();
  for (const rel of [...new Set(paths)].sort(byDepth)) {
    const view = host.get(rel) ?? { kind: 'absent' };
    if (view.kind === 'skipped') {
      skipped.set(view.reason, [...(skipped.get(view.reason) ?? []), rel]);
      continue;
    }
    const entry = base.get(rel);
    if (hostMatchesBase(view, entry)) continue;
    if (view.kind === 'dir' && (!entry || entry.type === 'dir')) continue;
    candidates.push(rel);
  }
  const probe = new Set<string>();
  for (const rel of candidates) {
    probe.add(rel);
    for (const dir of ancestorsOf(rel)) probe.add(dir);
  }
  return { candidates, probe: [...probe].sort(byDepth), skipped };
}

/** The whole plan, once the box's state of every candidate and its folders is known. */
export function planMirror(input: {
  candidates: readonly string[];
  host: ReadonlyMap<string, HostView>;
  base: Pick<ReadonlyMap<string, ManifestEntry>, 'get'>;
  box: ReadonlyMap<string, BoxState>;
  skipped?: Map<MirrorSkipReason, string[]>;
}): MirrorPlan {
  const { host, base, box } = input;
  // Folders this plan makes, for the paths below them. Nothing else: what is below a path that
  // goes or becomes a file is judged by what the box has there now (it is removed first).
  const planned = new Map<string, BoxState>();
  const at = (rel: string): BoxState | undefined => planned.get(rel) ?? box.get(rel);
  const plan: MirrorPlan = { removals: [], writes: [], moves: new Map(), needs: new Map(), knownFolders: new Map(), newFolders: [], synced: [], conflicts: [], agreed: [], skipped: input.skipped ?? new Map<MirrorSkipReason, string[]>() };
  const fileRemovals: string[] = [];
  const dirRemovals: string[] = [];
  const folderWrites: BoxEntry[] = [];
  const otherWrites: BoxEntry[] = [];

  for (const rel of [...input.candidates].sort(byDepth)) {
    const view = host.get(rel) ?? { kind: 'absent' };
    const entry = base.get(rel);
    const folders = ancestorsOf(rel);
    // A box that put a file or link where a folder of this path was: what is below is its business.
    const above = folders.map((dir) => at(dir));
    if (above.some((state) => state === undefined || (state.kind !== 'dir' && state.kind !== 'absent'))) {
      plan.conflicts.push(rel);
      continue;
    }
    const now: BoxState = above.some((state) => state?.kind === 'absent') ? { kind: 'absent' } : at(rel) ?? { kind: 'other' };
    if (view.kind === 'skipped') continue;
    if (boxMatchesHost(now, view)) {
      plan.agreed.push(rel);
      continue;
    }
    if (!boxMatchesBase(now, entry)) {
      plan.conflicts.push(rel);
      continue;
    }
    const need: { removal?: string; folders: string[] } = { folders: [] };
    // The old thing goes first when the kind changes (or the host removed it).
    if (now.kind !== 'absent' && (view.kind === 'absent' || now.kind !== view.kind)) {
      if (now.kind === 'dir') dirRemovals.push(rel);
      else fileRemovals.push(rel);
      need.removal = rel;
    }
    if (view.kind === 'absent') {
      plan.moves.set(rel, { path: rel });
    } else {
      for (const dir of folders) {
        const state = at(dir);
        if (state?.kind === 'absent') {
          const hostDir = host.get(dir);
          const mode = hostDir?.kind === 'dir' ? hostDir.mode & 0o777 : 0o755;
          folderWrites.push({ path: dir, kind: 'dir', mode });
          planned.set(dir, { kind: 'dir', mode, ino: '' });
          plan.newFolders.push(dir);
          need.folders.push(dir);
          if (base.get(dir)?.type !== 'dir') plan.moves.set(dir, { path: dir, entry: { type: 'dir', mode, size: 0 } });
        } else if (state?.kind === 'dir' && base.get(dir)?.type !== 'dir' && !plan.moves.has(dir)) {
          plan.moves.set(dir, { path: dir, entry: { type: 'dir', mode: state.mode & 0o777, size: 0 } });
          if (state.ino) plan.knownFolders.set(dir, state.ino);
        }
      }
      if (view.kind === 'dir') {
        const mode = view.mode & 0o777;
        folderWrites.push({ path: rel, kind: 'dir', mode });
        plan.newFolders.push(rel);
        plan.moves.set(rel, { path: rel, entry: { type: 'dir', mode, size: 0 } });
        planned.set(rel, { kind: 'dir', mode, ino: '' });
      } else if (view.kind === 'symlink') {
        otherWrites.push({ path: rel, kind: 'symlink', target: view.target });
        plan.moves.set(rel, { path: rel, entry: { type: 'symlink', mode: 0o777, size: 0, target: view.target } });
      } else {
        const mode = view.mode & 0o777;
        otherWrites.push({ path: rel, kind: 'file', mode, bytes: view.bytes, mtime: view.mtime });
        plan.moves.set(rel, { path: rel, entry: { type: 'file', mode, size: view.size, sha256: view.sha256 }, bytes: view.bytes });
      }
    }
    plan.needs.set(rel, need);
    plan.synced.push(rel);
  }
  plan.removals = [...fileRemovals.map((rel) => ({ path: rel, dir: false })), ...dirRemovals.sort((a, b) => byDepth(b, a)).map((rel) => ({ path: rel, dir: true }))];
  plan.writes = [...folderWrites.sort((a, b) => byDepth(a.path, b.path)), ...otherWrites];
  return plan;
}

/**
 * The plan after the removals ran: a path whose removal failed (the box put something in a
 * folder the host removed) is a conflict, and so is a path whose write needed that removal
 * first (the host turned a folder into a file), with what was to be written inside it. Removals
 * that did happen stay in the plan.
 */
export function dropFailedRemovals(plan: MirrorPlan, failed: ReadonlySet<string>): void {
  if (!failed.size) return;
  const dropped = new Set<string>();
  // Outermost first (the plan's order): what was to be written inside a dropped folder goes too.
  for (const rel of plan.synced) {
    const removal = plan.needs.get(rel)?.removal;
    const writesInside = plan.moves.get(rel)?.entry !== undefined && ancestorsOf(rel).some((dir) => dropped.has(dir));
    if ((removal !== undefined && failed.has(removal)) || writesInside) dropped.add(rel);
  }
  for (const rel of dropped) {
    plan.moves.delete(rel);
    plan.conflicts.push(rel);
  }
  plan.synced = plan.synced.filter((rel) => !dropped.has(rel));
  plan.writes = plan.writes.filter((entry) => !dropped.has(entry.path) && !ancestorsOf(entry.path).some((dir) => dropped.has(dir)));
}
