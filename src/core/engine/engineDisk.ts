import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineInfo } from './engineSchemas.js';

/**
 * Where the engine keeps task workspaces, as far as this machine can tell. A task's default
 * workspace is a volume under the engine's data root with no size limit (no engine API bounds a
 * volume on the usual ext4 + overlay2 hosts), so a box that writes without end fills that file
 * system: doctor says which of the user's own folders would fill with it.
 */
export interface EngineDisk {
  /** The engine's data root (`DockerRootDir`; Podman's graph root), when it says. */
  dataRoot?: string;
  /** Whether the engine runs on this machine's own kernel and file systems (not a VM, not remote). */
  local: boolean;
  /** Folders of the user's on the same file system as the data root. */
  sharesWith: string[];
  /** Free bytes there, for an unprivileged writer. */
  freeBytes?: number;
}

/** The device of `file`, or of its nearest existing folder (a state folder not made yet lands there). */
function deviceOf(file: string): number | undefined {
  for (let at = path.resolve(file); ; at = path.dirname(at)) {
    try {
      return fs.statSync(at).dev;
    } catch {
      if (at === path.dirname(at)) return undefined;
    }
  }
}

/**
 * Local means the engine reports this machine's host name and kernel: Docker Desktop, Colima and
 * remote engines report their VM's or host's, and a path there says nothing about our disks.
 */
export function engineDisk(info: EngineInfo, folders: Record<string, string>): EngineDisk {
  const dataRoot = typeof info.DockerRootDir === 'string' ? info.DockerRootDir : undefined;
  const local = info.Name === os.hostname() && info.KernelVersion === os.release();
  if (!dataRoot || !local) return { dataRoot, local, sharesWith: [] };
  const device = deviceOf(dataRoot);
  if (device === undefined) return { dataRoot, local, sharesWith: [] };
  const sharesWith = Object.entries(folders).filter(([, folder]) => deviceOf(folder) === device).map(([name]) => name);
  let freeBytes: number | undefined;
  try {
    const stats = fs.statfsSync(dataRoot);
    freeBytes = stats.bavail * stats.bsize;
  } catch {
    freeBytes = undefined;
  }
  return { dataRoot, local, sharesWith, freeBytes };
}

export function describeEngineDisk(disk: EngineDisk): string {
  if (!disk.dataRoot) return 'the engine does not say where it keeps volumes';
  if (!disk.local) return `workspaces live in ${disk.dataRoot} on the engine's machine, not checked from here; a task's default workspace has no size limit there`;
  const free = disk.freeBytes === undefined ? '' : ` (${(disk.freeBytes / 1e9).toFixed(1)} GB free)`;
  if (disk.sharesWith.length === 0) return `workspaces live in ${disk.dataRoot}${free}, on a file system of its own: a task filling its workspace fills only that`;
  return `workspaces live in ${disk.dataRoot}${free}, on the same file system as your ${disk.sharesWith.join(' and ')}: a task filling its workspace fills ${disk.sharesWith.length === 1 ? 'it' : 'them'} too (an in-memory workspace, workspaceTmpfs, bounds a task)`;
}
