#!/usr/bin/env bash
# Installs what the console's browser tests need: Debian's Chromium (never a browser downloaded by
# an npm package: such downloads are not reachable here) and the harness's locked npm packages.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
harness="$here/crates/parley-server/tests/browser"

if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver
fi

# playwright-core only drives a browser; it never downloads one.
(cd "$harness" && npm ci --no-audit --no-fund)
