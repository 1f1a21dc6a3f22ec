import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Where the user's Airlock daemon listens, inside the state folder (mode 0700: only this user can
 * reach it). The launcher (src/cli/airlock.sh) knows the same names; change both together.
 *   pid       "<pid> <build>" of the daemon serving now
 *   requests  a FIFO; each line names one request folder under spool/
 *   spool/    request folders: the arguments, the client's folder, and FIFOs for output, the exit
 *             status, the client's liveness and (optionally) its stdin
 */
export function daemonFiles(stateRoot: string) {
  const dir = path.join(stateRoot, 'daemon');
  return { dir, pidFile: path.join(dir, 'pid'), requests: path.join(dir, 'requests'), spool: path.join(dir, 'spool'), log: path.join(dir, 'daemon.log') };
}

/** The names inside one request folder. */
export const REQUEST_FILES = {
  kind: 'kind',
  args: 'args',
  cwd: 'cwd',
  taken: 'taken',
  stdout: 'o',
  stderr: 'e',
  status: 's',
  alive: 'a',
  stdin: 'i',
} as const;

/** What the status FIFO carries instead of an exit code when the full CLI must serve the request. */
export const FALLBACK_STATUS = 'fallback';

export interface PidRecord {
  pid: number;
  build: string;
}

export function readPid(file: string): PidRecord | undefined {
  try {
    const [pid, build] = fs.readFileSync(file, 'utf8').trim().split(' ');
    return Number(pid) > 0 && build ? { pid: Number(pid), build } : undefined;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

