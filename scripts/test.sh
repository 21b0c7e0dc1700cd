#!/usr/bin/env bash
# The test suite: type-level tests (tsc) and every vitest file, kernels on the WebGPU adapter;
# then the kernel files again at llvmpipe's other vector width (256 bits: 8-lane subgroups, the
# default; 512: 16 lanes, OMNI_VECTOR_WIDTH=512), so the kernels for both run.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/omni-emotion-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR"
echo "[test] type-checking (tsc --noEmit, includes the type-level shape tests)"
npx tsc --noEmit -p .
echo "[test] vitest"
npx vitest run "$@"
if [ $# -eq 0 ] && [ -z "${LP_NATIVE_VECTOR_WIDTH:-}" ]; then
  main="${OMNI_VECTOR_WIDTH:-256}"
  other=$([ "$main" = 512 ] && echo 256 || echo 512)
  echo "[test] the kernel files at ${other}-bit vectors (the main run: ${main})"
  OMNI_VECTOR_WIDTH="$other" npx vitest run test/autotune.test.ts test/conv-windows.test.ts test/epilogue.test.ts \
    test/flash-attention.test.ts test/matmul-packing.test.ts test/ops-composite.test.ts test/texture-reads.test.ts test/vector-width.test.ts test/models-whisper.test.ts
fi
