#!/usr/bin/env bash
# Start Triton (CPU build bundled with nvidia-pytriton, python backend) on a
# model repository in poll mode, in the foreground.
#
#   servers/triton/serve.sh <model_repository> [grpc_port] [http_port] [metrics_port]
#
# Defaults: gRPC 8001, HTTP 8000, metrics 8002. Environment: TRITON_VENV (default
# .venvs/triton-server), TRITON_POLL_SECS (default 1), TRITON_EXIT_TIMEOUT (default 5).
# The server keeps running while models are missing or fail to load (they are
# retried on every poll); stop it with SIGTERM.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TRITON_VENV:-$ROOT/.venvs/triton-server}"
REPO="${1:?usage: serve.sh <model_repository> [grpc_port] [http_port] [metrics_port]}"
GRPC_PORT="${2:-8001}"
HTTP_PORT="${3:-8000}"
METRICS_PORT="${4:-8002}"
SERVER="$VENV/tritonserver"
[ -x "$SERVER/bin/tritonserver" ] || { echo "serve.sh: no tritonserver in $SERVER; run ./build.sh triton-server" >&2; exit 1; }
mkdir -p "$REPO"
LIBS="$("$VENV/bin/python" -c 'import pathlib, pytriton; print(pathlib.Path(pytriton.__file__).parent.parent / "nvidia_pytriton.libs")')"
PYLIB="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
# The python backend stub embeds the interpreter found on PATH (the venv's, with
# numpy and onnxruntime) and needs that interpreter's libpython.
export PATH="$VENV/bin:$PATH"
export LD_LIBRARY_PATH="$PYLIB:$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$SERVER/bin/tritonserver" \
  --model-repository="$(cd "$REPO" && pwd)" \
  --model-control-mode=poll \
  --repository-poll-secs="${TRITON_POLL_SECS:-1}" \
  --exit-on-error=false \
  --strict-readiness=false \
  --backend-directory="$SERVER/backends" \
  --cache-directory="$SERVER/caches" \
  --grpc-port="$GRPC_PORT" \
  --http-port="$HTTP_PORT" \
  --metrics-port="$METRICS_PORT" \
  --exit-timeout-secs="${TRITON_EXIT_TIMEOUT:-5}" \
  --log-verbose=0
