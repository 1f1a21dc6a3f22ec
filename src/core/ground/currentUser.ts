import * as os from 'node:os';

/** Who is deciding or accepting, as the audit log records it; a uid when the account has no name. */
export function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
