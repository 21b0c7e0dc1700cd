#!/usr/bin/env bash
# Media tools for data/media and data/synth: ffmpeg (+ffprobe) decodes and encodes clips,
# espeak-ng speaks SynthEmo's sentences. Idempotent: does nothing when both are on PATH.
# On Debian as root it installs them with apt-get; elsewhere it names what to install and
# fails, so a caller (scripts/setup.sh) can decide whether media is required.
set -euo pipefail

say() { echo "[setup-media] $*" >&2; }

missing=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing+=(ffmpeg)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)

if [ ${#missing[@]} -eq 0 ]; then
  say "ffmpeg and espeak-ng present: $(ffmpeg -version | head -1 | cut -d' ' -f1-3); espeak-ng $(espeak-ng --version | awk '{print $4; exit}')"
  exit 0
fi

is_debian() { [ -r /etc/os-release ] && grep -qE '^(ID|ID_LIKE)=.*debian' /etc/os-release; }

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null && is_debian; then
  say "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  # Another apt run (unattended upgrades, a parallel setup) may hold the dpkg lock: wait for it.
  lock=(-o DPkg::Lock::Timeout=600)
  # A fresh container has empty package lists: update first.
  apt-get "${lock[@]}" update -qq >&2 || say "apt-get update reported errors (continuing)"
  apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >&2
  command -v ffmpeg >/dev/null && command -v espeak-ng >/dev/null && { say "installed ${missing[*]}"; exit 0; }
fi

cat >&2 <<MSG
[setup-media] ERROR: missing ${missing[*]}.
  Debian/Ubuntu:  sudo apt-get install ffmpeg espeak-ng
  macOS:          brew install ffmpeg espeak-ng
  ffmpeg only (npm, no root): npm install @ffmpeg-installer/ffmpeg  (data/media falls back to it)
MSG
exit 1
