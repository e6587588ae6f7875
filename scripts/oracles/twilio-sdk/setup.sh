#!/usr/bin/env bash
# Installs the official Twilio SDKs pinned here into target/twilio-sdk (a Python venv and
# node_modules), once per pin: the Rust test in crates/parley-server/tests/it/twilio_api.rs runs
# this before the SDK checks. Needs PyPI and the npm registry.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out="${TWILIO_SDK_DIR:-$root/target/twilio-sdk}"
mkdir -p "$out/node"

pins=$(cat "$here/requirements.txt" | sha256sum | cut -c1-16)
if [ ! -f "$out/venv/.pins-$pins" ]; then
  python3 -m venv "$out/venv"
  "$out/venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  touch "$out/venv/.pins-$pins"
fi

lock=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -c1-16)
if [ ! -f "$out/node/.pins-$lock" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$out/node/"
  (cd "$out/node" && npm ci --no-audit --no-fund --silent)
  touch "$out/node/.pins-$lock"
fi
echo "$out"
