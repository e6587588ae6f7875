#!/usr/bin/env bash
# Runs every test of the workspace on SQLite and on PostgreSQL: a throwaway PostgreSQL 15 is
# started for the run (scripts/with-postgres.sh) and stopped at the end. Extra arguments go to
# `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-postgres.sh cargo test --workspace --locked "$@"
