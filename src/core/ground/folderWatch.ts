import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FSWatcher } from 'chokidar';

export type FolderChange = 'add' | 'change' | 'unlink' | 'addDir' | 'unlinkDir';

export interface FolderWatchOptions {
  /**
   * Whether the entry at these parts below the root is watched. A folder left out is never
   * entered, which is what bounds the watch (the state folder holds blob stores of any size).
   */
  includes(parts: readonly string[]): boolean;
  /** Stat polling from the start instead of the OS's notifications (inotify, FSEvents). */
  polling?: boolean;
  pollIntervalMs?: number;
  /** Native watching ran out of OS resources and polling took over. */
  onFallback?(error: NodeJS.ErrnoException): void;
}

export interface FolderWatch {
  /** Resolves once the entries already there have been reported, each with `initial` true. */
  readonly ready: Promise<void>;
  /** Whether the watch polls (asked for, or fallen back to). */
  readonly polling: boolean;
  close(): Promise<void>;
}

/** Out of inotify watches or file descriptors: native watching cannot work here, polling still can. */
const EXHAUSTED = new Set(['ENOSPC', 'EMFILE', 'ENFILE']);

/**
 * Reports changes below `root` as parts relative to it. The root is created (0700) if missing:
 * chokidar follows a missing folder only when its parent exists, and a front end may start before
 * the first task has made the state folder.
 *
 * Polling is the fallback only where watching cannot work: when the OS refuses more watches
 * (ENOSPC: inotify's per-user limit; EMFILE/ENFILE: descriptors), or when the caller asks (network
 * file systems, where notifications from other hosts never arrive). The switch re-reports what
 * is there, with `initial` false once the first scan was done, so consumers must treat a repeated
 * "add" as "this exists", not as news.
 */
export function watchFolder(root: string, options: FolderWatchOptions, onChange: (change: FolderChange, parts: string[], initial: boolean) => void): FolderWatch {
  fs.mkdirSync(root, { recursive: true, mode: 0o700 });
  const prefix = root + path.sep;
  const ignored = (entry: string) => {
    if (entry === root) return false;
    if (!entry.startsWith(prefix)) return !prefix.startsWith(entry + path.sep);
    return !options.includes(entry.slice(prefix.length).split(path.sep));
  };
  let polling = Boolean(options.polling);
  const interval = options.pollIntervalMs ?? 300;
  let scanned = false;
  let closed = false;
  let closing: Promise<void> | undefined;
  let current: FSWatcher | undefined;
  let markReady: () => void;
  let failReady: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => { markReady = resolve; failReady = reject; });
  // Whoever awaits `ready` hears of a watcher that could not load; nobody else has to listen.
  ready.catch(() => undefined);

  const open = (watch: typeof import('chokidar').watch): FSWatcher => {
    const watcher = watch(root, {
      ignoreInitial: false,
      ignored,
      followSymlinks: false,
      persistent: true,
      usePolling: polling,
      interval,
    });
    watcher.on('all', (change, entry) => {
      if (closed || watcher !== current || entry === root || !entry.startsWith(prefix)) return;
      onChange(change as FolderChange, entry.slice(prefix.length).split(path.sep), !scanned);
    });
    watcher.on('ready', () => {
      if (watcher !== current) return;
      scanned = true;
      // A stat poller takes its first stat after chokidar says ready; a change made before that
      // stat becomes the baseline and is never reported. One interval later the baseline is set.
      if (polling) setTimeout(markReady, interval).unref();
      else markReady();
    });
    watcher.on('error', (error) => {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (closed || watcher !== current || polling || !EXHAUSTED.has(code)) return;
      polling = true;
      void watcher.close();
      current = open(watch);
      options.onFallback?.(error as NodeJS.ErrnoException);
    });
    return watcher;
  };
  // chokidar loads with the first watch, not with the core; `ready` already covered chokidar's
  // own asynchronous start, and now covers the load too.
  const opening = import('chokidar')
    .then(({ watch }) => {
      if (!closed) current = open(watch);
    })
    .catch((error: unknown) => failReady(error));

  return {
    ready,
    get polling() { return polling; },
    close() {
      closed = true;
      markReady();
      closing ??= opening.then(() => current?.close());
      return closing;
    },
  };
}
