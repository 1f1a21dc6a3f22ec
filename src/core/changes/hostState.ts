import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';

/** What one workspace path is on the host: the unit apply, undo and rollback move between. */
export const hostStateSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('absent') }),
  z.object({ kind: z.literal('file'), sha256: z.string(), mode: z.number().int(), size: z.number().int() }),
  z.object({ kind: z.literal('symlink'), target: z.string() }),
  z.object({ kind: z.literal('dir'), mode: z.number().int().optional() }),
  z.object({ kind: z.literal('other') }),
]);
export type HostState = z.infer<typeof hostStateSchema>;

/** Reads a file in 1 MB pieces without following a symlink at its last component. */
export function forEachChunk(file: string, onChunk: (chunk: Buffer) => void): void {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    for (let count; (count = fs.readSync(fd, buffer, 0, buffer.length, null)) > 0; ) onChunk(buffer.subarray(0, count));
  } finally {
    fs.closeSync(fd);
  }
}

export function hashFile(file: string): string {
  const hash = createHash('sha256');
  forEachChunk(file, (chunk) => hash.update(chunk));
  return hash.digest('hex');
}

/** lstat, never stat: a symlink is reported as itself, not as what it points to. */
export function readHostState(root: string, rel: string): HostState {
  const file = path.join(root, rel);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(file);
  } catch (error) {
    // ENOTDIR: an ancestor is a file, so nothing exists at this path.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return { kind: 'absent' };
    throw error;
  }
  if (stat.isSymbolicLink()) return { kind: 'symlink', target: fs.readlinkSync(file) };
  if (stat.isDirectory()) return { kind: 'dir', mode: stat.mode & 0o7777 };
  if (stat.isFile()) return { kind: 'file', sha256: hashFile(file), mode: stat.mode & 0o7777, size: stat.size };
  return { kind: 'other' };
}

export function sameHostState(a: HostState, b: HostState): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'file' && b.kind === 'file') return a.sha256 === b.sha256 && (a.mode & 0o111) === (b.mode & 0o111);
  if (a.kind === 'symlink' && b.kind === 'symlink') return a.target === b.target;
  return true;
}

/**
 * Walks every ancestor of `rel` below the root with lstat. Returns why writing there is unsafe (a
 * symlink or a non-directory on the way), or undefined. Missing ancestors are fine: apply creates
 * them as real directories. `planned` overrides what is on disk, for directories this same apply
 * creates or removes first.
 */
export function unsafeAncestorReason(root: string, rel: string, planned: ReadonlyMap<string, HostState['kind']> = new Map()): string | undefined {
  const parts = rel.split('/');
  for (let index = 1; index < parts.length; index++) {
    const ancestor = parts.slice(0, index).join('/');
    const kind = planned.get(ancestor) ?? hostKind(root, ancestor);
    if (kind === 'absent') return undefined;
    if (kind === 'symlink') return `${ancestor} is a symlink on the host; Airlock never writes through symlinks`;
    if (kind !== 'dir') return `${ancestor} is not a directory on the host`;
  }
  return undefined;
}

/** What a path is on the host, by lstat alone (no hashing). */
export function hostKind(root: string, rel: string): HostState['kind'] {
  try {
    const stat = fs.lstatSync(path.join(root, rel));
    return stat.isSymbolicLink() ? 'symlink' : stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : 'other';
  } catch {
    return 'absent';
  }
}
