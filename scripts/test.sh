#!/usr/bin/env bash
# Runs Airlock's whole test suite on a Debian/Ubuntu machine, setting everything up first
# (Docker engine, gVisor, offline test image, npm packages). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-engine.sh
# Podman beside Docker, for test/integration/podman.test.ts (its own API service; Docker is untouched).
bash scripts/setup-podman.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then npm ci --no-audit --no-fund; fi
export AIRLOCK_TEST_IMAGE="${AIRLOCK_TEST_IMAGE:-airlock-test:bookworm}"
npm test
