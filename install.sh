#!/usr/bin/env bash
# Install advex into ./.venv: Debian EGL libraries (headless MuJoCo rendering) and Chromium
# (the browser check of report.html), then torch 2.13.0 (the CPU build) first so nothing else
# drags in CUDA wheels, then advex with extras.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

need_debs=()
for pkg in libegl1 libegl-mesa0 libgl1-mesa-dri chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done
if ((${#need_debs[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_debs[@]}"
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[test]"
echo "advex installed in $(pwd)/.venv"
