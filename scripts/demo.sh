#!/usr/bin/env bash
# The main job on a fresh machine, no microphone needed: installs livesense into .venv
# and runs `livesense demo`, the live monitor on the bundled recording (samples/demo.flac)
# with the embedded default model. Arguments go to `livesense demo`, e.g.
#   bash scripts/demo.sh --speed 2 --log /tmp/demo.jsonl
# Needs Python 3.11+. As root on Debian/Ubuntu it also installs PortAudio (libportaudio2),
# which `livesense listen` needs for a real microphone; the demo itself runs without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s libportaudio2 >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libportaudio2 >/dev/null; } \
    || echo "demo.sh: could not install libportaudio2 (needed by 'livesense listen' only); going on" >&2
fi
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/livesense demo "$@"
