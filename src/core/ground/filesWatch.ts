import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FSWatcher } from 'chokidar';

export interface FilesWatch {
  /**
   * Resolves once the OS watches are in place: a change made after it is reported. A caller that
   * must not miss one made earlier looks at its files once this resolves.
   */
  readonly ready: Promise<void>;
  /** Watches more files (posix paths relative to the root); each is watched once. */
  add(rels: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * Reports changes to a known set of files below `root` (a write, a creation, a removal, a save by
 * rename), by their posix relative paths. Only the files' own folders are watched, not the tree
 * around them: a review of twenty files in a workspace of 100,000 costs a handful of OS watches,
 * where a whole-tree watch would stat every file. Unlike the editor's own file events, which come
 * from a workspace watcher that starts when it likes and honours the user's watcher exclusions,
 * `ready` says when changes start being seen.
 */
export function watchFiles(root: string, rels: readonly string[], onChange: (rel: string) => void): FilesWatch {
  const prefix = root + path.sep;
  // The folders are watched, not the files: a watch on a file follows its inode, so it would miss
  // a file that does not exist yet. chokidar's atomic-write handling stays on: it is what reports a
  // save by rename over a known file (as a change, 100 ms after the rename).
  const files = new Set<string>();
  const folders = new Set<string>();
  let closed = false;
  let watcher: FSWatcher | undefined;
  const fresh = (list: readonly string[]) => {
    const more: string[] = [];
    for (const rel of list) {
      const file = path.join(root, ...rel.split('/'));
      if (!file.startsWith(prefix)) continue;
      files.add(file);
      // Every folder up to the root: a file's folder that the host has not made yet is seen when it
      // appears (in its parent's watch), and then watched itself.
      for (let folder = path.dirname(file); folder.startsWith(prefix) || folder === root; folder = path.dirname(folder)) {
        if (folders.has(folder)) break;
        folders.add(folder);
        // chokidar, handed a path that does not exist, watches nothing at all: missing folders
        // wait, unignored, for their parent's watch to announce them.
        if (fs.existsSync(folder)) more.push(folder);
      }
    }
    return more;
  };
  const ignored = (entry: string) => !files.has(entry) && !folders.has(entry);
  const ready = import('chokidar').then(({ watch }) => new Promise<void>((resolve, reject) => {
    if (closed) return resolve();
    const current = watch(fresh(rels), { ignoreInitial: true, ignored, depth: 0, followSymlinks: false, persistent: false });
    watcher = current;
    current.on('all', (change, entry) => {
      if (closed) return;
      if (change === 'addDir' && folders.has(entry)) {
        // A folder the host just made is watched now. Folders below it that came with it
        // (`mkdir -p`) are never announced: they are watched now too.
        current.add([...folders].filter((folder) => (folder === entry || folder.startsWith(entry + path.sep)) && fs.existsSync(folder)));
      }
      if (files.has(entry)) onChange(entry.slice(prefix.length).split(path.sep).join('/'));
    });
    current.once('ready', resolve);
    // Kept for the watch's life: an 'error' with no listener would throw in the caller's process.
    // One after `ready` (the OS out of watches) leaves the files unwatched; apply still checks them.
    current.on('error', reject);
  }));
  // Whoever awaits `ready` hears of a watch that could not start; nobody else has to listen.
  ready.catch(() => undefined);
  return {
    ready,
    add(list) {
      const more = fresh(list);
      if (more.length) void ready.then(() => watcher?.add(more), () => undefined);
    },
    async close() {
      closed = true;
      await ready.catch(() => undefined);
      await watcher?.close();
    },
  };
}
