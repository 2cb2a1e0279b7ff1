#!/usr/bin/env bash
# Lay out the tritonserver bundled with nvidia-pytriton inside the venv so the
# raw binary runs without pytriton's Python wrapper:
#   <venv>/tritonserver/bin/tritonserver
#   <venv>/tritonserver/backends/python/{libtriton_python.so,triton_python_backend_stub}
# The python backend stub must match the venv's Python version (pytriton ships
# one per version). Called by build.sh as: servers/triton/setup.sh <venv>.
set -euo pipefail
VENV="$(cd "$1" && pwd)"
PY="$VENV/bin/python"
DIST="$("$PY" -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent / "tritonserver")')"
VERSION="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
STUB="$DIST/python_backend_stubs/$VERSION/triton_python_backend_stub"
[ -x "$STUB" ] || { echo "setup.sh: pytriton ships no python backend stub for Python $VERSION ($STUB)" >&2; exit 1; }
rm -rf "$VENV/tritonserver"
mkdir -p "$VENV/tritonserver"
cp -r "$DIST/bin" "$DIST/backends" "$DIST/caches" "$VENV/tritonserver/"
cp "$STUB" "$VENV/tritonserver/backends/python/triton_python_backend_stub"
"$VENV/tritonserver/bin/tritonserver" --help >/dev/null 2>&1 || true
echo "setup.sh: tritonserver laid out in $VENV/tritonserver (python backend stub for Python $VERSION)"
