import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The host-side home of Airlock's records (task state, audit logs, base snapshots). It lives on the
 * host only; no task container ever mounts it.
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AIRLOCK_STATE_DIR) return path.resolve(env.AIRLOCK_STATE_DIR);
  const base = env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state');
  return path.join(base, 'airlock');
}
