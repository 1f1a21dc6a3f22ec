import * as path from 'node:path';
import { watch } from 'chokidar';
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
 */
export function watchPolicyFiles(files: readonly string[], onChange: () => void, { debounceMs = 150 }: { debounceMs?: number } = {}): PolicyWatch {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch([...files], { ignoreInitial: true, persistent: true, awaitWriteFinish: false });
  watcher.on('all', () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  });
  // A watch that fails (permissions, too many watches) must not take the host process down.
  watcher.on('error', () => undefined);
  return {
    async close() {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}
