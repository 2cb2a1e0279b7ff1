#!/usr/bin/env bash
# Start Triton (CPU build bundled with nvidia-pytriton, python backend) on a
# model repository in poll mode, in the foreground.
#
#   servers/triton/serve.sh [model_repository] [grpc_port] [http_port] [metrics_port]
#
# Defaults: the model_repository of [tool.typeo.base] in the configuration
# ($DEEPCLEAN_CONFIG or the top-level pyproject.toml), the gRPC port of the cleaners'
# triton_url ([tool.typeo.scripts.clean], 8001 in the shipped configuration), HTTP
# 8000, metrics 8002, all bound to 127.0.0.1. Environment: TRITON_ADDRESS,
# TRITON_HTTP_PORT, TRITON_METRICS_PORT, TRITON_VENV (default .venvs/triton-server),
# TRITON_POLL_SECS (default 1), TRITON_EXIT_TIMEOUT (default 5).
# The server keeps running while models are missing or fail to load (they are
# retried on every poll); stop it with SIGTERM.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${TRITON_VENV:-$ROOT/.venvs/triton-server}"
CONFIG="${DEEPCLEAN_CONFIG:-$ROOT/pyproject.toml}"
ADDRESS="${TRITON_ADDRESS:-127.0.0.1}"
# the model repository and the gRPC port, one per line, from the configuration (when not given)
if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then
  mapfile -t FROM_CONFIG < <("$VENV/bin/python" - "$CONFIG" <<'PY'
import pathlib, sys, tomllib
config = pathlib.Path(sys.argv[1])
typeo = tomllib.loads(config.read_text())["tool"]["typeo"]
url = typeo.get("scripts", {}).get("clean", {}).get("triton_url") or "127.0.0.1:8001"
print(config.parent / typeo["base"]["model_repository"])
print(url.rsplit(":", 1)[-1])
PY
  )
  [ "${#FROM_CONFIG[@]}" = 2 ] || { echo "serve.sh: cannot read model_repository and triton_url from $CONFIG" >&2; exit 1; }
fi
REPO="${1:-${FROM_CONFIG[0]}}"
GRPC_PORT="${2:-${FROM_CONFIG[1]}}"
[[ "$GRPC_PORT" =~ ^[0-9]+$ ]] || { echo "serve.sh: the gRPC port '$GRPC_PORT' is not a number (triton_url host:port)" >&2; exit 1; }
HTTP_PORT="${3:-${TRITON_HTTP_PORT:-8000}}"
METRICS_PORT="${4:-${TRITON_METRICS_PORT:-8002}}"
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
  --grpc-address="$ADDRESS" --grpc-port="$GRPC_PORT" \
  --http-address="$ADDRESS" --http-port="$HTTP_PORT" \
  --metrics-address="$ADDRESS" --metrics-port="$METRICS_PORT" \
  --exit-timeout-secs="${TRITON_EXIT_TIMEOUT:-5}" \
  --log-verbose=0
