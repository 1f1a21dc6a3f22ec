#!/bin/sh
# The `airlock` command. Everything runs the full CLI (node cli.js) except `run` and `exec` while
# this user's Airlock daemon of this same build is serving: then the request goes to the daemon
# (src/cli/daemon/) as a folder with a few FIFOs, which costs a handful of small processes instead
# of starting node and the bundle. The daemon gates and audits exactly as the CLI does. Anything it
# cannot take (a terminal, stdin for exec, a usage error) comes back here and runs the full CLI.
# esbuild.mjs writes this file into dist/ with the build id filled in; daemonFiles.ts has the names.
build='@AIRLOCK_BUILD@'

full() {
  exec 3>&- 4<&-
  self=$0
  # npm links bin entries: cli.js is next to the real file, not the link.
  while [ -L "$self" ]; do
    link=$(readlink "$self")
    case $link in /*) self=$link ;; *) self=${self%/*}/$link ;; esac
  done
  case $self in */*) here=${self%/*} ;; *) here=. ;; esac
  exec "${AIRLOCK_NODE:-node}" "$here/cli.js" "$@"
}

case ${1-} in run | exec) ;; *) full "$@" ;; esac
[ "${AIRLOCK_DAEMON-}" = 0 ] && full "$@"
state=${AIRLOCK_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/airlock}
case $state in /*) ;; *) state=$PWD/$state ;; esac
d=$state/daemon
[ -p "$d/requests" ] || full "$@"
read -r dpid dbuild <"$d/pid" 2>/dev/null || full "$@"
[ "$dbuild" = "$build" ] && kill -0 "$dpid" 2>/dev/null || full "$@"

kind=$1
shift
r=$(mktemp -d "$d/spool/r.XXXXXXXX" 2>/dev/null) || full "$kind" "$@"
printf '%s' "$kind" >"$r/kind"
for a in "$@"; do printf '%s\0' "$a"; done >"$r/args"
printf '%s' "$PWD" >"$r/cwd"
fifos="$r/o $r/e $r/s $r/a"
# Piped input is forwarded to `run` (a terminal is a person, not data; `exec` forwards only with -i).
[ "$kind" = run ] && [ ! -t 0 ] && fifos="$fifos $r/i"
mkfifo -m 600 $fifos 2>/dev/null || {
  rm -rf "$r"
  full "$kind" "$@"
}

# Held open for as long as this script lives: the daemon cancels the command when it closes.
exec 3<>"$r/a" 4<&0
printf '%s\n' "$r" 1<>"$d/requests"
cat "$r/o" 3>&- 4<&- &
po=$!
cat "$r/e" >&2 3>&- 4<&- &
pe=$!
pi=
[ -p "$r/i" ] && {
  cat <&4 >"$r/i" 2>/dev/null 3>&- 4<&- &
  pi=$!
}
cat "$r/s" >"$r/status" 3>&- 4<&- &
ps=$!
# A daemon that died just now never takes the request: claim it and run the full CLI instead. The
# claim is a mkdir, as the daemon's is, so exactly one of the two runs it.
(sleep 2 && mkdir "$r/taken" && kill -USR1 $$) </dev/null >/dev/null 2>&1 3>&- 4<&- &
pw=$!

fallback=
trap 'fallback=1' USR1
trap 'kill $po $pe $pi $ps $pw 2>/dev/null; rm -rf "$r"; exit 130' INT TERM HUP
wait $ps
if [ -n "$fallback" ]; then
  kill $po $pe $pi $ps 2>/dev/null
  rm -rf "$r"
  full "$kind" "$@"
fi
wait $po $pe
kill $pi $pw 2>/dev/null
read -r status <"$r/status"
rm -rf "$r"
case $status in
fallback) full "$kind" "$@" ;;
'' | *[!0-9]*)
  echo "airlock: the daemon stopped before the command ended (its log: $d/daemon.log)" >&2
  exit 125
  ;;
esac
exit "$status"
