#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL 15 beside it, and stops the server afterwards.
#
# The server runs as the `postgres` user when this runs as root (initdb and postgres refuse root),
# on a free loopback port with a private data directory that is removed at the end, whatever
# happens. The command sees its URL in PARLEY_TEST_PG_URL and its data directory in
# PARLEY_TEST_PG_DATA (whose postmaster.pid names the server's process, for tests that pause it:
# crates/parley/tests/it/chaos.rs runs a server of its own through this script for that, so no
# other test stalls). Tests trade durability for speed
# (fsync off); set PG_DURABLE=1 to keep PostgreSQL's defaults, as the benchmarks do.
set -euo pipefail

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

workdir="$(mktemp -d /tmp/parley-pg.XXXXXX)"
if [ "$(id -u)" = 0 ]; then chown postgres: "$workdir"; fi
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"

cleanup() {
  as_pg "$PG_BIN/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

as_pg "$PG_BIN/initdb" -D "$workdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
opts="-p $port -k $workdir -c listen_addresses=127.0.0.1 -c max_connections=400"
if [ "${PG_DURABLE:-0}" != 1 ]; then
  opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
as_pg "$PG_BIN/pg_ctl" -D "$workdir/data" -l "$workdir/postgres.log" -w -t 60 -o "$opts" start >/dev/null
export PARLEY_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
export PARLEY_TEST_PG_DATA="$workdir/data"
echo "throwaway PostgreSQL 15 on 127.0.0.1:$port" >&2

"$@"
