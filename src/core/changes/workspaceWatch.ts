import type * as fs from 'node:fs';
import * as path from 'node:path';
import type { FSWatcher } from 'chokidar';

export type WorkspaceChange = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';

export interface WorkspaceWatchOptions {
  /** Whether the watch need not look at or below this path (posix, workspace-relative); `isDir` when known. */
  skip(rel: string, isDir: boolean | undefined): boolean;
  /** Stat polling from the start instead of the OS's notifications. */
  polling?: boolean;
  pollIntervalMs?: number;
  /** Native watching ran out of OS resources and polling took over. */
  onFallback?(error: NodeJS.ErrnoException): void;
  onError?(error: Error): void;
  /**
   * Called for every notification the OS delivers, before chokidar has looked at what it names
   * (it reports the change itself a little later, or never, for an unchanged or left-out path).
   */
  onActivity?(): void;
}

export interface WorkspaceWatch {
  /** Resolves once the entries already there have been reported, each with `initial` true. */
  readonly ready: Promise<void>;
  readonly polling: boolean;
  close(): Promise<void>;
}

const EXHAUSTED = new Set(['ENOSPC', 'EMFILE', 'ENFILE']);

/**
 * A workspace watch for the host mirror. Unlike ground/folderWatch.ts it hands the filter the
 * entry's type (so a folder the .gitignore leaves out is never entered, while a file of that
 * name still is), and it turns chokidar's atomic-write handling off: that hides names ending in
 * `~` and holds every removal back 100 ms, and the mirror reads each path's state when it syncs
 * anyway, so a save by rename arrives as what it is. Polling takes over where the OS runs out of
 * watches, as there.
 */
export function watchWorkspace(root: string, options: WorkspaceWatchOptions, onChange: (change: WorkspaceChange, rel: string, initial: boolean) => void): WorkspaceWatch {
  const prefix = root + path.sep;
  const relOf = (entry: string) => entry.slice(prefix.length).split(path.sep).join('/');
  const ignored = (entry: string, stats?: fs.Stats) => {
    if (entry === root) return false;
    if (!entry.startsWith(prefix)) return !prefix.startsWith(entry + path.sep);
    return options.skip(relOf(entry), stats ? stats.isDirectory() : undefined);
  };
  let polling = Boolean(options.polling);
  let scanned = false;
  let closed = false;
  let closing: Promise<void> | undefined;
  let current: FSWatcher | undefined;
  let markReady!: () => void;
  let failReady!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);

  const open = (watch: typeof import('chokidar').watch): FSWatcher => {
    const watcher = watch(root, { ignoreInitial: false, ignored, followSymlinks: false, persistent: true, atomic: false, usePolling: polling, interval: options.pollIntervalMs ?? 300 });
    watcher.on('all', (change, entry) => {
      if (closed || watcher !== current || entry === root || !entry.startsWith(prefix)) return;
      onChange(change as WorkspaceChange, relOf(entry), !scanned);
    });
    watcher.on('raw', () => {
      if (!closed && watcher === current) options.onActivity?.();
    });
    watcher.on('ready', () => {
      if (watcher !== current) return;
      scanned = true;
      markReady();
    });
    watcher.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (closed || watcher !== current) return;
      if (polling || !EXHAUSTED.has(code)) {
        options.onError?.(error as Error);
        return;
      }
      polling = true;
      void watcher.close();
      current = open(watch);
      options.onFallback?.(error as NodeJS.ErrnoException);
    });
    return watcher;
  };
  const opening = import('chokidar')
    .then(({ watch }) => {
      if (!closed) current = open(watch);
    })
    .catch((error: unknown) => failReady(error));

  return {
    ready,
    get polling() {
      return polling;
    },
    close() {
      closed = true;
      markReady();
      closing ??= opening.then(() => current?.close());
      return closing;
    },
  };
}
