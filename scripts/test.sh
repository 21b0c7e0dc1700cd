#!/usr/bin/env bash
# The test suite: type-level tests (tsc) and every vitest file, kernels on the WebGPU adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/omni-emotion-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"
echo "[test] type-checking (tsc --noEmit, includes the type-level shape tests)"
npx tsc --noEmit -p .
echo "[test] vitest"
npx vitest run "$@"
