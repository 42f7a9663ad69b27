#!/usr/bin/env bash
# The whole test suite from a fresh clone: Node 24 and the npm packages (scripts/env.sh), Synapse
# from PyPI into .tyr-dev/synapse-venv and matrix-nio on Debian's python3-olm into
# .tyr-dev/nio-venv and Debian's chromium (the test harness), then unit + integration tests.
# Extra arguments go to vitest, e.g. `scripts/test.sh --project unit`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$TYR_ROOT"
node --input-type=module -e 'import("./tests/harness/synapse.ts").then((m) => m.ensureSynapseInstalled((s) => console.error(s)))'
# The interop test's second crypto stack: Debian's python3-olm (apt-get, needs root) and matrix-nio
# 0.25 in .tyr-dev/nio-venv. Without it only tests/integration/interop-nio.test.ts fails (saying why).
node --input-type=module -e 'import("./tests/harness/nio.ts").then((m) => m.ensureNioInstalled((s) => console.error(s)))' ||
  echo "warning: could not install matrix-nio/python3-olm; the nio interop test will fail" >&2
# The dashboard's browser tests: Debian's chromium (apt-get, needs root), driven by playwright-core
# (which never downloads a browser). Without it only tests/integration/dashboard.test.ts fails.
node --input-type=module -e 'import("./tests/harness/browser.ts").then((m) => m.ensureChromiumInstalled((s) => console.error(s)))' ||
  echo "warning: could not install chromium; the dashboard browser tests will fail" >&2
results="$TYR_ROOT/.tyr-dev/test-results.json"
mkdir -p "$(dirname "$results")"
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$results" "$@" || status=$?
# One plain closing line for tools that read it.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || true
exit $status
