#!/usr/bin/env bash
# Create the NOMAD benchmark environment .venvs/bench-nomad (idempotent).
#
# NOMAD (PyPI gw-nomad) pins scipy<1.17 and brings ~460 MB, so it is kept out
# of the suite's environments, ./build.sh and CI; only the quality benchmark
# uses it. Set NOMAD_VERSION to try another release.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venvs/bench-nomad"
VERSION="${NOMAD_VERSION:-0.3.0}"
PYTHON="${PYTHON:-python3}"
if [ -f "$VENV/.installed" ] && [ "$(cat "$VENV/.installed")" = "$VERSION" ]; then
  exit 0
fi
echo "[setup_nomad] installing gw-nomad==$VERSION into ${VENV#"$ROOT"/} (log: ${VENV#"$ROOT"/}.log)"
rm -rf "$VENV"
{
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "gw-nomad==$VERSION"
} >"$VENV.log" 2>&1 || { echo "[setup_nomad] failed; last lines of $VENV.log:" >&2; tail -n 20 "$VENV.log" >&2; exit 1; }
echo "$VERSION" >"$VENV/.installed"
