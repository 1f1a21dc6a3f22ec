import type Docker from 'dockerode';
import { execToEnd } from './execToEnd.js';

/**
 * Kills every process carrying the command's marker. Run as an exec of its own because the engine
 * has no "kill this exec" call, and because the task's runner, which could kill them too, runs as
 * the sandbox user: anything in the box could stop it or speak for it. Repeated because a dying
 * tree may still be forking.
 */
const KILL_BY_MARKER = `m="AIRLOCK_CMD=$1"; for pass in 1 2 3 4 5; do for p in /proc/[0-9]*; do pid=\${p#/proc/}; [ "$pid" = "$$" ] && continue; if tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -qx "$m"; then kill -9 "$pid" 2>/dev/null; fi; done; done`;

/** SIGKILLs, from the host's own exec, every process in the task that carries command `id`'s marker. */
export function killMarked(container: Docker.Container, user: string, id: string): Promise<void> {
  return execToEnd(container, ['sh', '-c', KILL_BY_MARKER, 'airlock-kill', id], user);
}
