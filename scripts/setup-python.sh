#!/usr/bin/env bash
# Developer tool (CI does not run it): installs Debian's PyTorch stack used by
# scripts/goldens/make_goldens.py. Idempotent: does nothing when the modules import.
# Usage: bash scripts/setup-python.sh && /usr/bin/python3 scripts/goldens/make_goldens.py
set -euo pipefail

say() { echo "[setup-python] $*" >&2; }
PY=/usr/bin/python3

if [ -x "$PY" ] && "$PY" -c 'import torch, torchvision, numpy' >/dev/null 2>&1; then
  say "ok: $("$PY" -c 'import torch, torchvision, numpy; print("torch", torch.__version__, "torchvision", torchvision.__version__, "numpy", numpy.__version__)')"
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  say "ERROR: apt-get not found; install Debian's python3-torch (1.13), python3-torchvision (0.14) and python3-numpy"
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    say "ERROR: run as root (or install sudo): apt-get install -y python3-torch python3-torchvision python3-numpy"
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
say "installing python3-torch python3-torchvision python3-numpy (Debian)"
$SUDO apt-get update -qq >&2 || say "apt-get update reported errors (continuing)"
$SUDO apt-get install -y -qq python3-torch python3-torchvision python3-numpy >&2
"$PY" -c 'import torch, torchvision, numpy; print("[setup-python] ok: torch", torch.__version__, "torchvision", torchvision.__version__)' >&2
