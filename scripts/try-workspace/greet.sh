#!/bin/sh
# Prints a greeting: the whole of this sample project, for an agent to change in a task.
set -eu
echo "hello, ${1:-world}"
