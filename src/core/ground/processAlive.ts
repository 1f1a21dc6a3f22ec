/**
 * Whether a process with this pid exists on this host: how Airlock's lock and marker files tell a
 * holder that was killed from one still at work. EPERM means it exists under another user. A
 * reused pid reads as alive, which only delays taking over: the safe side.
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
