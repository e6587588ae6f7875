#!/usr/bin/env bash
# Runs every test of the workspace on SQLite and on PostgreSQL.
#
# It starts its own throwaway PostgreSQL 15 (as the `postgres` user when run as root, since initdb
# and postgres refuse root) on a free loopback port with a private data directory, points the tests
# at it through PARLEY_TEST_PG_URL, and stops it and removes the directory on exit, whatever
# happens. Safe to run twice in a row or twice at once.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "PostgreSQL 15 binaries not found in $PG_BIN (set PG_BIN)" >&2
  exit 1
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

workdir="$(mktemp -d /tmp/parley-test-pg.XXXXXX)"
[ "$(id -u)" = 0 ] && chown postgres: "$workdir"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"

cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

as_pg "$PG_BIN/initdb" -D "$workdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
# Durability is traded away for speed: this database lives for one test run.
as_pg "$PG_BIN/pg_ctl" -D "$workdir/data" -l "$workdir/postgres.log" -w -t 60 \
  -o "-p $port -k $workdir -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null
export PARLEY_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
echo "test PostgreSQL 15 on 127.0.0.1:$port"

cargo test --workspace --locked "$@"
