import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ListingRules } from '../snapshot/listingRules.js';
import { ancestorsOf, type HostView } from './mirrorPlan.js';

/** Larger host files are reported as skipped: the mirror holds what it carries in memory. */
export const MIRROR_MAX_FILE_BYTES = 64 * 1024 * 1024;

const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** A regular file's bytes, read through a descriptor that cannot be a link, a FIFO or a device. */
function readRegular(file: string, maxBytes: number): { bytes: Buffer; stat: fs.Stats } | 'tooLarge' | 'unsupported' {
  const fd = fs.openSync(file, READ_FLAGS);
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return 'unsupported';
    if (stat.size > maxBytes) return 'tooLarge';
    // To the end, not to the stat size (a file being written grows), never past the limit.
    let buffer = Buffer.allocUnsafe(Math.max(stat.size, 1));
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        if (buffer.length > maxBytes) return 'tooLarge';
        const bigger = Buffer.allocUnsafe(Math.min(maxBytes + 1, buffer.length * 2));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const count = fs.readSync(fd, buffer, length, buffer.length - length, null);
      if (count === 0) break;
      length += count;
    }
    if (length > maxBytes) return 'tooLarge';
    return { bytes: buffer.subarray(0, length), stat };
  } finally {
    fs.closeSync(fd);
  }
}

export interface HostRead {
  views: Map<string, HostView>;
  /** What each read file looked like (size, mtime, ctime), to notice a write the watcher folded into an earlier one. */
  stamps: Map<string, string>;
  bytes: number;
}

export const statStamp = (stat: fs.Stats) => `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}`;

/**
 * The host's state of each path, as the workspace copy would see it: a path under a symlinked
 * folder does not exist (the copy takes the link, never what it leads to), a link is its target
 * text (never followed), and a file is skipped when the listing's rules leave it out (its bytes are
 * read only when it is a credential-prone config that its content decides, or when it crosses).
 * Stops taking files once `maxBatchBytes` is passed; the paths it did not get to are returned.
 */
export async function readHostViews(root: string, rels: readonly string[], rules: ListingRules, options: { maxFileBytes?: number; maxBatchBytes: number; signal?: AbortSignal }): Promise<HostRead & { deferred: string[] }> {
  const maxFileBytes = options.maxFileBytes ?? MIRROR_MAX_FILE_BYTES;
  const realRoot = fs.realpathSync(root);
  const views = new Map<string, HostView>();
  const stamps = new Map<string, string>();
  const realDirs = new Map<string, boolean>();
  // The folder's real path is where it claims to be: no symlink anywhere from the root down.
  const dirIsReal = (dir: string) => {
    let known = realDirs.get(dir);
    if (known === undefined) {
      try {
        known = fs.realpathSync(path.join(root, dir)) === path.join(realRoot, dir) && fs.lstatSync(path.join(root, dir)).isDirectory();
      } catch {
        known = false;
      }
      realDirs.set(dir, known);
    }
    return known;
  };
  const present: string[] = [];
  const stats = new Map<string, fs.Stats>();
  for (const rel of rels) {
    if (rel.split('/').includes('.git')) {
      views.set(rel, { kind: 'skipped', reason: 'git' });
      continue;
    }
    const parent = ancestorsOf(rel).pop();
    if (parent !== undefined && !dirIsReal(parent)) {
      views.set(rel, { kind: 'absent' });
      continue;
    }
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path.join(root, rel));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      views.set(rel, code === 'ENOENT' || code === 'ENOTDIR' ? { kind: 'absent' } : { kind: 'skipped', reason: 'unreadable' });
      continue;
    }
    if (stat.isDirectory()) views.set(rel, { kind: 'dir', mode: stat.mode & 0o7777 });
    else if (stat.isFile() || stat.isSymbolicLink()) {
      present.push(rel);
      stats.set(rel, stat);
    } else views.set(rel, { kind: 'skipped', reason: 'unsupported' });
  }

  const unlisted = await rules.unlisted(present, options.signal);
  let bytes = 0;
  const deferred: string[] = [];
  for (const rel of present) {
    if (bytes > options.maxBatchBytes) {
      deferred.push(rel);
      continue;
    }
    const reason = unlisted.get(rel);
    if (reason) {
      views.set(rel, { kind: 'skipped', reason });
      continue;
    }
    const file = path.join(root, rel);
    const stat = stats.get(rel)!;
    try {
      if (stat.isSymbolicLink()) {
        // A credential-prone config that is a link is left out, as the copy leaves it out.
        views.set(rel, rules.needsContentCheck(rel) ? { kind: 'skipped', reason: 'credentials' } : { kind: 'symlink', target: fs.readlinkSync(file) });
        stamps.set(rel, statStamp(stat));
        continue;
      }
      const read = readRegular(file, maxFileBytes);
      if (read === 'tooLarge' || read === 'unsupported') {
        views.set(rel, { kind: 'skipped', reason: read });
        continue;
      }
      if (rules.needsContentCheck(rel) && !rules.contentIsClean(rel, read.bytes)) {
        views.set(rel, { kind: 'skipped', reason: 'credentials' });
        continue;
      }
      bytes += read.bytes.length;
      stamps.set(rel, statStamp(read.stat));
      views.set(rel, { kind: 'file', mode: read.stat.mode & 0o7777, size: read.bytes.length, sha256: createHash('sha256').update(read.bytes).digest('hex'), bytes: read.bytes, mtime: read.stat.mtime });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // Gone, or swapped for a link, since it was looked at: it is what it is now at the next look.
      if (code === 'ENOENT' || code === 'ENOTDIR') views.set(rel, { kind: 'absent' });
      else if (code === 'ELOOP') deferred.push(rel);
      else views.set(rel, { kind: 'skipped', reason: 'unreadable' });
    }
  }
  // Each folder looked at again after the reads: one swapped for a link meanwhile takes its files out.
  const carried = [...views].filter(([, view]) => view.kind === 'file' || view.kind === 'symlink').map(([rel]) => rel);
  realDirs.clear();
  for (const rel of carried) {
    const parent = ancestorsOf(rel).pop();
    if (parent !== undefined && !dirIsReal(parent)) views.set(rel, { kind: 'absent' });
  }
  return { views, stamps, bytes, deferred };
}
