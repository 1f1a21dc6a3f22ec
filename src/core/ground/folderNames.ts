import * as fs from 'node:fs';

/**
 * The names in a state folder, or none when it does not exist yet: the host's record folders
 * (tasks, change sets, approvals, applies, blobs) are created on first write, not up front.
 */
export function folderNames(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw error;
  }
}
