import { readdirSync, readFileSync } from 'node:fs';

/** [state, session] from /proc/PID/stat; the command name may contain spaces and parentheses. */
function statOf(pid: number): [string, number] {
  try {
    const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return [fields[0], Number(fields[3])];
  } catch {
    return ['X', -1];
  }
}

function carriesMarker(pid: number, marker: string): boolean {
  try {
    return readFileSync('/proc/' + pid + '/environ', 'latin1').split('\0').indexOf(marker) !== -1;
  } catch {
    return false;
  }
}

/**
 * SIGKILLs the session `sessionPid` leads and every process whose environment holds `marker`
 * (`NAME=value`), so grandchildren that left the session die too. Passes repeat until one finds
 * nothing, because a process may fork while the last pass runs.
 */
export function killSessionAndMarked(sessionPid: number | undefined, marker: string): void {
  for (let pass = 0; pass < 20; pass++) {
    let found = 0;
    if (sessionPid !== undefined) {
      try {
        process.kill(-sessionPid, 'SIGKILL');
        found++;
      } catch {
        // the session is gone already
      }
    }
    let pids: number[] = [];
    try {
      pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
    } catch {
      // no /proc: the session kill is all there is
    }
    for (const pid of pids) {
      if (pid === process.pid || pid === 1) continue;
      const [state, session] = statOf(pid);
      // Dead and dying processes are skipped: nothing to kill, and old gVisor builds can fault
      // on reading a zombie's environ.
      if (state === 'Z' || state === 'X') continue;
      if (session === sessionPid || carriesMarker(pid, marker)) {
        try {
          process.kill(pid, 'SIGKILL');
          found++;
        } catch {
          // it ended meanwhile
        }
      }
    }
    if (found === 0) return;
  }
}
