import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { POLICY_FILE, SYSTEM_POLICY_FILE } from './policyLoader.js';

export interface PolicyWatch {
  close(): Promise<void>;
}

/** The files a workspace's policy is read from: its .airlock.json, the usual devcontainer places, machine floors. */
export function policyFilesFor(workspace: string, env: NodeJS.ProcessEnv = process.env, devcontainerPath?: string): string[] {
  const files = [
    path.join(workspace, POLICY_FILE),
    path.join(workspace, '.devcontainer', 'devcontainer.json'),
    path.join(workspace, '.devcontainer.json'),
    ...(devcontainerPath ? [path.resolve(workspace, devcontainerPath)] : []),
    SYSTEM_POLICY_FILE,
    ...(env.AIRLOCK_MACHINE_POLICY ?? '').split(path.delimiter).filter(Boolean).map((file) => path.resolve(file)),
  ];
  return [...new Set(files)];
}

/**
 * Calls `onChange` after any of `files` is created, changed or removed, once things settle (an
 * editor's save is often several writes). Files that do not exist yet are watched for creation.
 * What to do with a half-written file is the caller's business: re-validate, keep the last good.
 *
 * The names are the repository's, so the watch never follows them: a .airlock.json that is a
 * symlink to / (or a folder of that name) would otherwise have the watcher walk and watch the
 * whole tree beneath it, in the editor and in every task's gateway. A symlink is watched as
 * itself, plus the regular file it leads to (re-resolved on every event), so editing the target
 * of a legitimate link is still noticed.
 */
export function watchPolicyFiles(files: readonly string[], onChange: () => void, { debounceMs = 150 }: { debounceMs?: number } = {}): PolicyWatch {
  let timer: NodeJS.Timeout | undefined;
  const targets = new Set<string>();
  const linkedFiles = () => files.map(regularTarget).filter((target): target is string => target !== undefined && !files.includes(target) && !targets.has(target));
  let closed = false;
  const initial = linkedFiles();
  initial.forEach((target) => targets.add(target));
  // chokidar loads with the first watch, not with the core. The watch was never armed when this
  // returned (chokidar sets up asynchronously); loading adds a microtask or a file read to that.
  const opening = import('chokidar').then(({ watch }): FSWatcher | undefined => {
    if (closed) return undefined;
    const watcher = watch([...files, ...initial], { ignoreInitial: true, persistent: true, awaitWriteFinish: false, followSymlinks: false, depth: 0 });
    watcher.on('all', () => {
      const added = linkedFiles();
      if (added.length) {
        added.forEach((target) => targets.add(target));
        watcher.add(added);
      }
      clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
    // A watch that fails (permissions, too many watches) must not take the host process down.
    watcher.on('error', () => undefined);
    return watcher;
  });
  // Nor may a watcher that could not load: the policy is still read at every check.
  opening.catch(() => undefined);
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      const watcher = await opening.catch(() => undefined);
      await watcher?.close();
    },
  };
}

/** Where a symlink at `file` leads when that is a regular file; undefined for anything else. */
function regularTarget(file: string): string | undefined {
  try {
    if (!fs.lstatSync(file).isSymbolicLink()) return undefined;
    const real = fs.realpathSync(file);
    return fs.statSync(real).isFile() ? real : undefined;
  } catch {
    return undefined;
  }
}
