#!/bin/sh
# The project's test: run it inside a task with `airlock exec <task> -- sh test.sh`.
set -eu
out=$(sh ./greet.sh Airlock)
[ "$out" = "hello, Airlock" ] || { echo "FAIL: got '$out'"; exit 1; }
echo "ok"
