#!/usr/bin/env bash
# Runs every test of the workspace on SQLite and on PostgreSQL (and the console in headless
# Chromium): a throwaway PostgreSQL 15 is
# started for the run (scripts/with-postgres.sh) and stopped at the end. Extra arguments go to
# `cargo test`. The last line totals every test binary's results.
set -uo pipefail
cd "$(dirname "$0")/.."

# The console's browser tests need Debian's Chromium and the harness's npm packages.
scripts/browser-deps.sh || { echo "cannot install the browser test dependencies" >&2; exit 1; }
# The SMPP tests' SMSC (npm `smpp`), installed before the tests that share it start together.
(cd crates/parley-smpp/tests/smsc && npm ci --no-audit --no-fund) ||
    { echo "cannot install the SMSC's npm packages" >&2; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
scripts/with-postgres.sh cargo test --workspace --locked "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
# Why each failure happened, in a few lines at the very end: a CI log shown by its head and tail
# keeps this, where the panic messages above sit between long backtraces.
if [ "$status" -ne 0 ]; then
    awk '/^---- .* stdout ----$/ { name = $2; shown = 0; grab = 0 }
         name && /panicked at / { sub(/^.*panicked at /, ""); print "why " name " failed, at " $0; grab = 2; next }
         name && grab > 0 { print "    " $0; grab--; next }
         name && /FAILED at step|timed out waiting|did not finish within/ && shown < 3 {
             print "    " $0; shown++ }' "$log"
fi
exit "$status"
