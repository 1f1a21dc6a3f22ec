#!/usr/bin/env bash
# Refreshes the README's screenshots from a real run of the side-bar and review end-to-end scenarios: they are
# what the test saw in code-server, never drawn by hand. Needs what `npm run test:e2e` needs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-e2e.sh
npm run --silent package >/dev/null
shots="$(mktemp -d)"
trap 'rm -rf "$shots"' EXIT
AIRLOCK_E2E_SCREENSHOTS="$shots" AIRLOCK_TEST_IMAGE="${AIRLOCK_TEST_IMAGE:-airlock-test:bookworm}" \
  node --import tsx --test --test-concurrency=1 test/e2e/sideBar.test.ts test/e2e/review.test.ts test/e2e/routing.test.ts
mkdir -p media/screenshots
for name in start-progress tasks-running approvals-push audit-log; do
  cp "$shots/side-bar/$name.png" "media/screenshots/$name.png"
done
cp "$shots/review/review-risky-diff.png" media/screenshots/review-risky-diff.png
cp "$shots/routing/sandbox-terminal.png" media/screenshots/sandbox-terminal.png
echo "media/screenshots/ updated from the e2e run"
