import * as fs from 'node:fs';
import * as path from 'node:path';
import { AirlockError } from './errors.js';

/** Limits for the files Airlock reads from a repository, far above any real one of their kind. */
export const UNTRUSTED_LIMITS = {
  /** .airlock.json, a machine floor, a devcontainer.json. */
  policyFile: 1024 * 1024,
  dockerfile: 1024 * 1024,
  dockerignore: 1024 * 1024,
} as const;

export interface UntrustedReadOptions {
  /** Refuse files larger than this; the read itself never takes more than this plus one byte. */
  maxBytes: number;
  /** The real path must lie inside this folder (itself resolved); a symlink out of it is refused. */
  within?: string;
  /** How the file is named in messages: a field, a flag, or a path the user knows. */
  what?: string;
  /**
   * false: the file's own name must not be a symlink (what the docker CLI does for a Dockerfile or
   * .dockerignore it sends). Symlinked parent folders are still judged by `within`.
   */
  followSymlinks?: boolean;
}

/** A refused read (`file.refused`): `reason` is the part after the file's name, for callers that report it at a position. */
export class UntrustedFileError extends AirlockError {
  constructor(
    readonly what: string,
    readonly reason: string,
    hint: string,
  ) {
    super(`${what} ${reason}; Airlock did not read it`, { code: 'file.refused', hint, field: what });
  }
}

/**
 * Reads a file that a repository or a box controls. Type, size and real path are checked before a
 * byte is read, so a policy file that is a symlink to /dev/zero, a FIFO, or a multi-gigabyte file
 * ends in one clear error instead of a hang or an exhausted host. Returns undefined when the file
 * does not exist. Throws UntrustedFileError (an AirlockError naming `what`) for everything else.
 */
export function readUntrustedFile(file: string, { maxBytes, within, what = file, followSymlinks = true }: UntrustedReadOptions): Buffer | undefined {
  const refused = (why: string) => new UntrustedFileError(what, why, within ? `Replace it with a regular file inside ${within}.` : 'Replace it with a regular file.');
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      // A dangling symlink, at the name or at a folder on the way, is not "absent": it was put there.
      const dangling = danglingLink(file);
      if (dangling !== undefined) throw refused(dangling === path.resolve(file) ? 'is a symlink to something that does not exist' : `is under ${dangling}, a symlink to something that does not exist`);
      return undefined;
    }
    throw refused(code === 'ELOOP' ? 'is a symlink loop' : `cannot be read (${code ?? (error as Error).message})`);
  }
  if (within !== undefined) {
    let root: string;
    try {
      root = fs.realpathSync(within);
    } catch (error) {
      throw refused(`cannot be checked: its folder ${within} cannot be resolved (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const rel = path.relative(root, real);
    if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) throw refused(`resolves outside ${within} (to ${real})`);
  }
  if (!followSymlinks && isSymlink(file)) throw refused(`is a symlink (to ${real}); it is not followed`);
  // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the resolved path is final.
  let fd: number;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (error) {
    throw refused(`cannot be opened (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw refused(`is not a regular file (${kindOf(stat)})`);
    if (stat.size > maxBytes) throw refused(`is ${stat.size} bytes, more than the ${maxBytes} allowed`);
    // Read to the end, not to the stat size: a file can grow meanwhile, and some (in /proc) report
    // 0 bytes. Either way never more than one byte past the limit.
    let grown = Buffer.alloc(Math.min(maxBytes + 1, Math.max(stat.size + 1, 64 * 1024)));
    let length = 0;
    for (;;) {
      if (length === grown.length) {
        if (grown.length > maxBytes) break;
        const bigger = Buffer.alloc(Math.min(maxBytes + 1, grown.length * 2));
        grown.copy(bigger, 0, 0, length);
        grown = bigger;
      }
      const count = fs.readSync(fd, grown, length, grown.length - length, null);
      if (count === 0) break;
      length += count;
    }
    if (length > maxBytes) throw refused(`grew past the ${maxBytes} bytes allowed while it was read`);
    return grown.subarray(0, length);
  } finally {
    fs.closeSync(fd);
  }
}

/** The same, as UTF-8 text. */
export function readUntrustedText(file: string, options: UntrustedReadOptions): string | undefined {
  return readUntrustedFile(file, options)?.toString('utf8');
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The nearest existing path at or above `file` when it is a symlink that does not resolve. */
function danglingLink(file: string): string | undefined {
  for (let current = path.resolve(file); ; current = path.dirname(current)) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.lstatSync(current);
    } catch {
      // does not exist (or cannot be looked at): its parent decides
    }
    if (stat) return stat.isSymbolicLink() && !resolves(current) ? current : undefined;
    if (path.dirname(current) === current) return undefined;
  }
}

function resolves(link: string): boolean {
  try {
    fs.realpathSync(link);
    return true;
  } catch {
    return false;
  }
}

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return 'a folder';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}
