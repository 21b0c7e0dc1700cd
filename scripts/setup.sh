#!/usr/bin/env bash
# Prepares a fresh machine for omni-emotion: npm dependencies, then a WebGPU adapter.
# On Debian bookworm as root with no usable Vulkan driver it installs Mesa's software
# Vulkan driver (lavapipe) from bookworm-backports: bookworm's own Mesa 22.3 lacks a
# Vulkan feature Dawn needs. Elsewhere it stops and names what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*" >&2; }

if [ ! -d node_modules/webgpu ] || [ ! -d node_modules/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  # onnxruntime-node (pulled in by the dev dependency @huggingface/transformers, the log-mel
  # oracle) would fetch CUDA binaries from a host this machine cannot reach; its CPU build ships in the tarball
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund >&2
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/omni-emotion-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# media tools for the data pipeline (ffmpeg, espeak-ng); not fatal here: only media tests need them
bash scripts/setup-media.sh >&2 || say "warning: ffmpeg/espeak-ng are missing; media tests will fail"

probe() { timeout 120 node scripts/probe-adapter.mjs vulkan 2>/dev/null | tail -1; }

if out=$(probe) && [[ "$out" == *'"ok":true'* ]]; then
  say "adapter: $out"
  exit 0
fi

if [ "${OMNI_BACKEND:-}" = "cpu" ]; then
  say "no WebGPU adapter; OMNI_BACKEND=cpu uses the reference interpreter"
  exit 0
fi

is_bookworm() { [ -r /etc/os-release ] && grep -q 'VERSION_CODENAME=bookworm' /etc/os-release; }

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null && is_bookworm; then
  say "no Vulkan adapter: installing mesa-vulkan-drivers from bookworm-backports"
  src=/etc/apt/sources.list.d/omni-emotion-backports.sources
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' > "$src"
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || say "apt-get update reported errors (continuing)"
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >&2
  if out=$(probe) && [[ "$out" == *'"ok":true'* ]]; then
    say "adapter: $out"
    exit 0
  fi
fi

cat >&2 <<'MSG'
[setup] ERROR: no WebGPU adapter found.
  Install a Vulkan driver. On a machine without a GPU (Debian 12):
    add a bookworm-backports apt source, then
    apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1   (Mesa >= 25, lavapipe)
  Or run on the reference interpreter: OMNI_BACKEND=cpu
MSG
exit 1
