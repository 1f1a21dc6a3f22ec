/**
 * Every path a change names comes from inside the sandbox, so it is hostile input. These rules are
 * the first gate of apply; the host-side lstat walk (hostTree.ts) is the second.
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
  // Case-insensitive: `.GIT/hooks` is `.git/hooks` on macOS and Windows file systems.
  if (parts.some((part) => part.toLowerCase() === '.git')) return 'under .git/ (git internals are never applied)';
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
  if (parts.some((part) => part.toLowerCase() === '.git')) return undefined;
  return parts.join('/');
}
