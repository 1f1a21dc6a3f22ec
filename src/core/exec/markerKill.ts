import type Docker from 'dockerode';
import { execToEnd } from './execToEnd.js';

/**
 * Kills a command's processes, from an exec of its own: the engine has no "kill this exec" call,
 * and the task's runner, which could kill them too, runs as the sandbox user, so anything in the
 * box could stop it or speak for it.
 *
 * A process is the command's if it carries the command's marker, or if it began while the command
 * ran and has been orphaned (its parent is init) or is a child of one killed in this pass. The
 * second rule is what a child that left its command gets caught by: `setsid` takes it out of the
 * session and `env -i` (or any other AIRLOCK_CMD) takes the marker, but nothing in the box can
 * change a process's start time or stop an orphan from being init's. Such orphans of other
 * commands that began in the same window die too: a command timing out costs a concurrent
 * command's escaped children, never lets one live.
 *
 * Times come from the box's own clock (/proc/uptime and each process's start in clock ticks),
 * the window from the host as "began this many centiseconds ago". Processes of the first second
 * of the container (its keep-alive under an init) are never in a window. Repeated because a dying
 * tree may still be forking; `${s##*) }` skips the command name, which the box chooses. Nothing
 * forks per process (one grep reads every environ): under a fork bomb at the pids limit forks
 * fail or crawl, and the kill must still get through.
 */
const KILL_COMMAND_TREE = `m="AIRLOCK_CMD=$1"
tck=$(getconf CLK_TCK 2>/dev/null) || tck=100; [ -n "$tck" ] || tck=100
read up _ < /proc/uptime; frac=\${up#*.}00; up_cs=$(( \${up%.*} * 100 + 1\${frac%\${frac#??}} - 100 ))
from=$(( (up_cs - $2) * tck / 100 ))
read -r s < /proc/1/stat; set -- \${s##*) }; first=$(( \${20} + tck )); [ "$from" -lt "$first" ] && from=$first
if printf 'a\\0' | grep -qzx a 2>/dev/null; then zgrep=1; else zgrep=; fi
for pass in 1 2 3 4 5; do
  killed=" "
  marked=" "
  if [ -n "$zgrep" ]; then
    for f in $(grep -lzxF -- "$m" /proc/[0-9]*/environ 2>/dev/null); do f=\${f#/proc/}; marked="$marked\${f%/environ} "; done
  fi
  for p in /proc/[0-9]*; do
    pid=\${p#/proc/}
    if [ "$pid" = "$$" ] || [ "$pid" = 1 ]; then continue; fi
    { read -r s < "$p/stat"; } 2>/dev/null || continue
    set -- \${s##*) }
    hit=
    case "$marked" in *" $pid "*) hit=1 ;; esac
    if [ -z "$zgrep" ] && [ -z "$hit" ] && tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -qxF -- "$m"; then hit=1; fi
    if [ -z "$hit" ] && [ "\${20}" -ge "$from" ]; then case "$killed" in *" $2 "*) hit=1 ;; *) [ "$2" = 1 ] && hit=1 ;; esac; fi
    if [ -n "$hit" ]; then kill -9 "$pid" 2>/dev/null; killed="$killed$pid "; fi
  done
done`;

/** The window starts a little before the host saw the command begin: clocks and the exec's own start differ. */
const WINDOW_MARGIN_MS = 200;

/**
 * SIGKILLs, from the host's own exec, every process of command `id` (started at `startedAt`, the
 * host's Date.now()) in the task.
 */
export function killCommandTree(container: Docker.Container, user: string, id: string, startedAt: number): Promise<void> {
  const windowCs = Math.ceil((Date.now() - startedAt + WINDOW_MARGIN_MS) / 10);
  return execToEnd(container, ['sh', '-c', KILL_COMMAND_TREE, 'airlock-kill', id, String(windowCs)], user);
}
