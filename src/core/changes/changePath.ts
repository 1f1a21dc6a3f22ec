/**
 * Every path a change names comes from inside the sandbox, so it is hostile input. These rules are
 * the first gate of apply; the host-side lstat walk (hostState.ts) is the second.
 */

/** Why a path from the sandbox can never be applied, or undefined when its shape is acceptable. */
export function unsafePathReason(rel: string): string | undefined {
  if (rel.length === 0) return 'empty path';
  if (rel.includes('\0')) return 'path contains a NUL byte';
  if (/[\x00-\x1f\x7f]/.test(rel)) return 'path contains a control character';
  if (rel.startsWith('/')) return 'absolute path';
  if (/^[A-Za-z]:/.test(rel)) return 'path starts with a drive letter';
  // A backslash is a separator on Windows hosts: `a\..\..\x` must not become a traversal there.
  if (rel.includes('\\')) return 'path contains a backslash';
  const parts = rel.split('/');
  if (parts.some((part) => part === '..')) return 'path contains ".."';
  if (parts.some((part) => part === '' || part === '.')) return 'path is not normalised';
  if (parts.some(actsAsGitFolder)) return 'under .git/ (git internals are never applied)';
  if (Buffer.byteLength(rel) > 4096) return 'path is longer than 4096 bytes';
  if (parts.some((part) => Buffer.byteLength(part) > 255)) return 'a path component is longer than 255 bytes';
  return undefined;
}

/**
 * Where a symlink's target lands, relative to the workspace root, or undefined when it leaves the
 * workspace (absolute, or `..` past the root). Lexical on purpose: the host-side walk then refuses
 * to write through any symlink, so a chain of links can never be used to climb out.
 */
export function symlinkTargetInside(linkPath: string, target: string): string | undefined {
  if (target.length === 0 || target.includes('\0') || target.startsWith('/') || /^[A-Za-z]:/.test(target) || target.includes('\\')) return undefined;
  const parts = linkPath.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  if (parts.some(actsAsGitFolder)) return undefined;
  return parts.join('/');
}

/** Code points HFS+ leaves out when it compares names (Apple TN1150); git's is_hfs_dotgit skips the same ones. */
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/**
 * The name a macOS or Windows host opens for a path component the box chose: HFS+ ignores the code
 * points above, Win32 drops trailing dots and spaces, and on NTFS what follows a colon names a
 * stream of the same file. On this Linux-shaped box each spelling is a name of its own; written to
 * such a host it lands on the plain name, so the rules judge that name too.
 */
export function hostEquivalentName(part: string): string {
  const visible = part.replace(HFS_IGNORED, '');
  const stream = visible.indexOf(':');
  return (stream >= 0 ? visible.slice(0, stream) : visible).replace(/[. ]+$/, '');
}

/** `rel` with every component as a macOS or Windows host would open it (see hostEquivalentName). */
export const hostEquivalentPath = (rel: string): string => rel.split('/').map(hostEquivalentName).join('/');

/**
 * Whether a component is, on some host, git's own folder: `.git` in any case (macOS and Windows
 * compare names case-insensitively), in any spelling hostEquivalentName folds to it (`.git.`,
 * `.g\u200cit`, `.git::$INDEX_ALLOCATION`), or as `git~1`, the 8.3 short name NTFS gives `.git`.
 * These are the spellings git itself refuses in trees (core.protectHFS and core.protectNTFS).
 */
export function actsAsGitFolder(part: string): boolean {
  const name = hostEquivalentName(part).toLowerCase();
  return name === '.git' || name === 'git~1';
}
