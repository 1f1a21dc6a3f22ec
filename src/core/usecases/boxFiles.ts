import * as path from 'node:path';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import type * as tarStream from 'tar-stream';
import { AirlockError, CancelledError, throwIfAborted } from '../ground/errors.js';
import { printableLine } from '../ground/printable.js';
import { WORKSPACE_PATH } from '../ground/sandboxPaths.js';

/**
 * One file of a task's workspace, read or written through the engine's archive endpoint: no
 * program runs in the box for it, so it works in images without node or a shell. The engine acts
 * as root and follows symlinks in a path's folders (within the box), so every folder from
 * /workspace down is looked at first and a path through a symlink is refused. Only the box can
 * change a folder into a symlink between that look and the copy; what it gains is a file in its
 * own box's filesystem, never the host's.
 */

/** Go's os.FileMode type bits, as the engine reports them in a path's stat: folder, symlink, and the other kinds (device, pipe, socket, char device, irregular). */
const MODE_DIR_BIT = 31;
const MODE_SYMLINK_BIT = 27;
const MODE_OTHER_BITS = [26, 25, 24, 21, 19];

export interface BoxStat {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  /** Permission bits only. */
  mode: number;
}

/** A path inside the task's workspace, absolute and normal; relative paths are taken from /workspace. */
export function workspacePath(input: string, field = 'path'): string {
  if (input.includes('\0')) throw new AirlockError(`${field}: holds a NUL character`, { code: 'file.badPath', hint: 'Give a path inside the workspace.', field });
  const normal = path.posix.resolve(WORKSPACE_PATH, input);
  if (normal !== WORKSPACE_PATH && !normal.startsWith(`${WORKSPACE_PATH}/`)) {
    throw new AirlockError(printableLine(`${field}: ${input} is outside ${WORKSPACE_PATH}`), { code: 'file.outsideWorkspace', hint: `Give a path inside ${WORKSPACE_PATH} (relative paths start there).`, field });
  }
  return normal;
}

/** The path's own entry (its last part is not followed), or undefined when there is none. */
export async function statInBox(container: Docker.Container, boxPath: string, signal?: AbortSignal): Promise<BoxStat | undefined> {
  let response: Readable & { headers?: Record<string, string | undefined> };
  try {
    const answer: unknown = await container.infoArchive({ path: boxPath, abortSignal: signal });
    response = answer as typeof response;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
  response.resume();
  const header = response.headers?.['x-docker-container-path-stat'];
  if (!header) throw new AirlockError(`the engine did not describe ${printableLine(boxPath)}`, { code: 'file.noStat', hint: 'Check the engine, then try again.', actions: [{ kind: 'runDoctor' }] });
  const stat = JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as { size?: unknown; mode?: unknown };
  const mode = typeof stat.mode === 'number' ? stat.mode : 0;
  // Above 2^31, so not with JavaScript's 32-bit operators.
  const bit = (n: number) => Math.floor(mode / 2 ** n) % 2 === 1;
  const kind = bit(MODE_DIR_BIT) ? 'dir' : bit(MODE_SYMLINK_BIT) ? 'symlink' : MODE_OTHER_BITS.some(bit) ? 'other' : 'file';
  return { kind, size: typeof stat.size === 'number' ? stat.size : 0, mode: mode & 0o777 };
}

/**
 * Looks at each folder from /workspace down to the path's parent: each must be a real folder.
 * Returns the folders that do not exist yet (outermost first) and the path's own entry.
 */
async function walk(container: Docker.Container, boxPath: string, signal?: AbortSignal): Promise<{ missing: string[]; deepest: string; target?: BoxStat }> {
  const parts = boxPath.slice(WORKSPACE_PATH.length + 1).split('/').filter(Boolean);
  const root = await statInBox(container, WORKSPACE_PATH, signal);
  if (root?.kind !== 'dir') throw new AirlockError(`the task has no ${WORKSPACE_PATH} folder (its container may have gone)`, { code: 'task.gone', hint: 'Start a new task.', actions: [{ kind: 'startTask' }] });
  let deepest = WORKSPACE_PATH;
  for (let index = 0; index < parts.length - 1; index++) {
    const folder = path.posix.join(deepest, parts[index]);
    const stat = await statInBox(container, folder, signal);
    if (!stat) return { missing: parts.slice(index, -1).map((_, at) => parts.slice(0, index + at + 1).join('/')), deepest };
    if (stat.kind !== 'dir') {
      throw new AirlockError(printableLine(`path: ${folder} is ${stat.kind === 'symlink' ? 'a symlink' : 'not a folder'}`), { code: 'file.throughSymlink', hint: 'Give the path the link points to, inside the workspace.', field: 'path' });
    }
    deepest = folder;
  }
  return { missing: [], deepest, target: parts.length ? await statInBox(container, boxPath, signal) : root };
}

export interface ReadOptions {
  /** Where to start, in bytes. */
  offset?: number;
  maxBytes: number;
  signal?: AbortSignal;
}

export interface BoxFile {
  bytes: Buffer;
  /** The whole file's size. */
  size: number;
  offset: number;
  /** Whether bytes after the returned ones were left out. */
  truncated: boolean;
}

/** Reads at most `maxBytes` of a regular file in the workspace, from `offset`. */
export async function readBoxFile(container: Docker.Container, boxPath: string, { offset = 0, maxBytes, signal }: ReadOptions): Promise<BoxFile> {
  const { missing, target } = await walk(container, boxPath, signal);
  if (missing.length || !target) throw new AirlockError(printableLine(`path: ${boxPath} does not exist in the task`), { code: 'file.notFound', hint: 'Check the path (relative paths start at /workspace).', field: 'path' });
  if (target.kind !== 'file') throw new AirlockError(printableLine(`path: ${boxPath} is ${target.kind === 'dir' ? 'a folder' : target.kind === 'symlink' ? 'a symlink' : 'not a regular file'}`), { code: 'file.notAFile', hint: target.kind === 'dir' ? 'List a folder with a command.' : 'Give the path of a regular file.', field: 'path' });
  const archive = (await container.getArchive({ path: boxPath, abortSignal: signal })) as unknown as Readable;
  const extract = (await import('tar-stream')).extract();
  const onAbort = () => extract.destroy(new CancelledError());
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<BoxFile>((resolve, reject) => {
      let found = false;
      const stop = () => {
        archive.unpipe(extract);
        archive.destroy();
        extract.destroy();
      };
      extract.on('entry', (...[header, body]: tarStream.ExtractEvents['entry']) => {
        // One entry: the file itself. Anything else (the box swapped it meanwhile) is not read.
        if (found || header.type !== 'file') {
          stop();
          return reject(new AirlockError(printableLine(`path: ${boxPath} changed while it was read`), { code: 'file.changed', hint: 'Try again.', field: 'path' }));
        }
        found = true;
        const size = header.size ?? 0;
        const chunks: Buffer[] = [];
        let seen = 0;
        let kept = 0;
        body.on('data', (data: unknown) => {
          const chunk = data as Buffer;
          const from = Math.max(0, offset - seen);
          seen += chunk.length;
          if (from >= chunk.length || kept >= maxBytes) return;
          const piece = chunk.subarray(from, from + (maxBytes - kept));
          chunks.push(piece);
          kept += piece.length;
          if (kept >= maxBytes) {
            // Nothing more is needed: the rest of a large file is never streamed out.
            stop();
            resolve({ bytes: Buffer.concat(chunks), size, offset, truncated: offset + kept < size });
          }
        });
        body.on('end', () => resolve({ bytes: Buffer.concat(chunks), size, offset, truncated: offset + kept < size }));
        body.on('error', reject);
      });
      extract.on('finish', () => {
        if (!found) reject(new AirlockError(printableLine(`path: ${boxPath} changed while it was read`), { code: 'file.changed', hint: 'Try again.', field: 'path' }));
      });
      extract.on('error', reject);
      archive.on('error', reject);
      archive.pipe(extract);
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

export interface WriteOptions {
  /** The sandbox user, who owns what is written. */
  uid: number;
  gid: number;
  signal?: AbortSignal;
}

export interface WriteOutcome {
  /** False when a file was replaced. */
  created: boolean;
  /** Folders made for it, relative to /workspace, outermost first. */
  folders: string[];
  bytes: number;
}

/**
 * Writes a regular file in the workspace, owned by the sandbox user (a replaced file keeps its
 * permission bits, a new one is 0644), making missing folders (0755, the sandbox user's).
 */
export async function writeBoxFile(container: Docker.Container, boxPath: string, bytes: Buffer, { uid, gid, signal }: WriteOptions): Promise<WriteOutcome> {
  if (boxPath === WORKSPACE_PATH) throw new AirlockError(`path: ${WORKSPACE_PATH} is the workspace folder itself`, { code: 'file.notAFile', hint: 'Give the path of a file inside it.', field: 'path' });
  const { missing, deepest, target } = await walk(container, boxPath, signal);
  if (target && target.kind !== 'file') {
    throw new AirlockError(printableLine(`path: ${boxPath} is ${target.kind === 'dir' ? 'a folder' : target.kind === 'symlink' ? 'a symlink' : 'not a regular file'}; nothing was written`), { code: 'file.notAFile', hint: 'Give the path of a regular file (or a new one).', field: 'path' });
  }
  throwIfAborted(signal);
  const pack = (await import('tar-stream')).pack();
  const relToDeepest = (rel: string) => path.posix.relative(deepest, path.posix.join(WORKSPACE_PATH, rel));
  const owned = { uid, gid, uname: '', gname: '', mtime: new Date() };
  for (const folder of missing) pack.entry({ ...owned, name: `${relToDeepest(folder)}/`, type: 'directory', mode: 0o755 });
  pack.entry({ ...owned, name: path.posix.relative(deepest, boxPath), type: 'file', mode: target?.mode ?? 0o644, size: bytes.length }, bytes);
  pack.finalize();
  // noOverwriteDirNonDir: a folder the box put at the path meanwhile makes the engine refuse, not replace it.
  await container.putArchive(pack as unknown as Readable, { path: deepest, noOverwriteDirNonDir: true, abortSignal: signal });
  return { created: !target, folders: missing, bytes: bytes.length };
}
