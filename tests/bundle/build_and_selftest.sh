#!/usr/bin/env bash
# Opt-in (not in CI): build the PyInstaller bundle from build.spec, run its --selftest offscreen,
# and print the build time and bundle size. Usage: tests/bundle/build_and_selftest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip install -q "pyinstaller==6.22.*"
rm -rf build/forget-desktop dist/forget-desktop dist/Forget.app
start=$(date +%s)
"$PY" -m PyInstaller --noconfirm --log-level WARN build.spec
built=$(( $(date +%s) - start ))
exe=dist/forget-desktop/forget-desktop
[ -x "$exe" ] || exe=dist/Forget.app/Contents/MacOS/forget-desktop
echo "build time: ${built} s"
echo "bundle size: $(du -sh dist/forget-desktop | cut -f1) (dist/forget-desktop)"
QT_QPA_PLATFORM=offscreen "$exe" --selftest
