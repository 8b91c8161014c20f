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
# Installed once per version of pyproject.toml: a second run starts at once.
stamp=.venv/.livesense-demo-install
wanted=$(sha256sum pyproject.toml | cut -d" " -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] || ! .venv/bin/python -c "import livesense" 2>/dev/null; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e .
  echo "$wanted" > "$stamp"
fi
exec .venv/bin/livesense demo "$@"
