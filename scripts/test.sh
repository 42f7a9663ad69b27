#!/usr/bin/env bash
# The whole test suite from a fresh clone: Node 24, npm packages and Synapse are installed on the
# first run (Synapse by the test harness, into .tyr-dev/synapse-venv), then unit + integration tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$TYR_ROOT"
node --input-type=module -e 'import("./tests/harness/synapse.ts").then((m) => m.ensureSynapseInstalled((s) => console.error(s)))'
exec npx vitest run "$@"
