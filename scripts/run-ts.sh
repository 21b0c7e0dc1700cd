#!/usr/bin/env bash
# Runs a TypeScript entry point with tsx on a prepared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/omni-emotion-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"
exec npx tsx "$@"
