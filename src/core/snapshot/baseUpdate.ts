import * as fs from 'node:fs';
import { AirlockError, CancelledError } from '../ground/errors.js';
import { type ManifestEntry, readManifest, type SnapshotManifest, writeManifest } from './snapshotManifest.js';
import { processAlive as alive } from '../ground/processAlive.js';

/** A path's new base: its entry (with its bytes, for a file), or undefined for "no longer in the base". */
export interface BaseMove {
  path: string;
  entry?: Omit<ManifestEntry, 'path' | 'offset'>;
  bytes?: Buffer;
}

const gone = (what: string) =>
  new AirlockError(`the base snapshot's ${what} is gone (the task has ended)`, { code: 'task.gone', hint: 'Start a new task.', actions: [{ kind: 'startTask' }] });

/**
 * Moves the base snapshot forward for some paths: new bytes are appended to the content file
 * (never rewritten, so a BaseSnapshot loaded earlier still reads the bytes its entries name) and
 * flushed, then the manifest is replaced in one rename, so a reader sees the old base or the new.
 * Callers hold `lockBase` around their read-modify-write.
 */
export function moveBase(manifestFile: string, moves: readonly BaseMove[]): SnapshotManifest {
  let manifest: SnapshotManifest;
  try {
    manifest = readManifest(manifestFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw gone('manifest');
    throw error;
  }
  const byPath = new Map(manifest.entries.map((entry) => [entry.path, entry]));
  const withBytes = moves.filter((move) => move.entry?.type === 'file');
  if (withBytes.length) {
    let fd: number;
    try {
      // No O_CREAT: a task whose content file was dropped has ended, and must not get a new one.
      fd = fs.openSync(manifest.contentFile, fs.constants.O_WRONLY | fs.constants.O_APPEND);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw gone('content file');
      throw error;
    }
    try {
      let offset = fs.fstatSync(fd).size;
      for (const move of withBytes) {
        const bytes = move.bytes ?? Buffer.alloc(0);
        if (bytes.length !== move.entry!.size) throw new Error(`${move.path}: ${bytes.length} bytes given for a base entry of ${move.entry!.size}`);
        for (let written = 0; written < bytes.length; ) written += fs.writeSync(fd, bytes, written, bytes.length - written);
        byPath.set(move.path, { ...move.entry!, path: move.path, offset });
        offset += bytes.length;
      }
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
  for (const move of moves) {
    if (!move.entry) byPath.delete(move.path);
    else if (move.entry.type !== 'file') byPath.set(move.path, { ...move.entry, path: move.path });
  }
  const next: SnapshotManifest = { ...manifest, entries: [...byPath.values()] };
  writeManifest(manifestFile, next);
  return next;
}

/** Past this, a lock's holder is taken to have died without letting go. */
const STALE_LOCK_MS = 2 * 60 * 1000;

/** The pid in a lock folder; undefined while its owner has not written it yet. */
function lockOwner(dir: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(`${dir}/owner`, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One writer of a task's base at a time, across processes (the CLI and the extension may both
 * follow the same workspace): a folder made with mkdir, holding its owner's pid. A lock whose
 * owner is gone, or that is older than any batch takes, is taken over.
 */
export async function lockBase(manifestFile: string, signal?: AbortSignal, timeoutMs = 30_000): Promise<() => void> {
  const dir = `${manifestFile}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (signal?.aborted) throw new CancelledError();
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.writeFileSync(`${dir}/owner`, `${process.pid}`, { mode: 0o600 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(dir, { recursive: true, force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw gone('folder');
        throw error;
      }
    }
    const stat = fs.statSync(dir, { throwIfNoEntry: false });
    const owner = lockOwner(dir);
    if (stat && (Date.now() - stat.mtimeMs > STALE_LOCK_MS || (owner !== undefined && !alive(owner)))) {
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new AirlockError("the task's base snapshot stayed locked by another process", { code: 'mirror.baseLocked', hint: 'Try again; if it persists, stop the other process that follows this workspace.' });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
