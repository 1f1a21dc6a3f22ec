#!/usr/bin/env bash
# `npm run try`: Airlock in a real VS Code (code-server) in your browser, with a sample workspace.
# Sets everything up first, idempotently: the Docker engine and gVisor, the offline image, the npm
# packages, code-server under .e2e/; then builds and installs the extension and serves VS Code on
# 127.0.0.1. Ctrl-C stops it and removes what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engine.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
bash scripts/setup-e2e.sh
npm run --silent package >/dev/null
export AIRLOCK_TEST_IMAGE="${AIRLOCK_TEST_IMAGE:-airlock-test:bookworm}"
exec node --import tsx scripts/try.ts "$@"
