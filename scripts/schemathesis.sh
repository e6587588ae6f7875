#!/usr/bin/env bash
# Runs schemathesis (stateless, fixed seed, bounded examples) against a demo server's
# /api/openapi.json. UNFINISHED: written at the deadline and never run; see /work/notes/h5.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/schemathesis-venv"
req="$root/scripts/oracles/schemathesis/requirements.txt"
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$req" "$venv/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$req"
  cp "$req" "$venv/requirements.txt"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
PARLEY_LISTEN="127.0.0.1:$port" "${PARLEY_BIN:-$root/target/debug/parley}" demo \
  --database-url "sqlite://$dir/demo.db" >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
token=$(grep -o 'API token: [^ ]*' "$dir/server.log" | head -1 | cut -d' ' -f3)
seed=${SCHEMATHESIS_SEED:-13}
echo "schemathesis seed: $seed"
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/openapi.json" \
  -H "Authorization: Bearer $token" --checks not_a_server_error --experimental=openapi-3.1 \
  --hypothesis-max-examples 20 --hypothesis-seed "$seed" --hypothesis-derandomize
