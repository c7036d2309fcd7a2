#!/usr/bin/env bash
# Opt-in (not in CI): build the PyInstaller bundle from build.spec, run its --selftest offscreen, and
# write the build time, bundle size and selftest lines to tests/bench/results/bundle-<system>.md.
# Usage: tests/bundle/build_and_selftest.sh
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
size=$(du -sh dist/forget-desktop | cut -f1)
status=0
selftest=$(QT_QPA_PLATFORM=offscreen "$exe" --selftest 2>&1) || status=$?
echo "$selftest"
out="tests/bench/results/bundle-$(uname -s | tr '[:upper:]' '[:lower:]').md"
{
  echo "# PyInstaller bundle ($(uname -sm), $(nproc) cores, $(date -u +%Y-%m-%d))"
  echo
  echo "- build: ${built} s (\`pyinstaller build.spec\`, load before: $(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'))"
  echo "- size of dist/forget-desktop: ${size}"
  echo "- bundled \`--selftest\` offscreen: exit ${status}"
  echo
  echo '```'
  echo "$selftest"
  echo '```'
} > "$out"
echo "wrote $out (build ${built} s, ${size})"
exit "$status"
