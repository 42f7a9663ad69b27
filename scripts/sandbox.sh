#!/usr/bin/env bash
# One command for a working local setup: Synapse on loopback, accounts, rooms, and Tyr in the
# foreground. Ctrl-C stops both.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$TYR_ROOT"
exec node scripts/sandbox.ts "$@"
