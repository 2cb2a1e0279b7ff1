#!/usr/bin/env bash
# Run the DeepClean online suite.
#
#   ./run.sh                 build what is missing, start every service in the tmux
#                            session "deepclean" (one named pane per service) and attach
#   ./run.sh --headless      the same without tmux: logs in run/logs, pid files in run/pids
#   ./run.sh --detach        start in tmux without attaching
#   ./run.sh --profile ''    full-size settings (default on a machine without a GPU: cpu)
#   ./run.sh --triton        also serve the model repository with a Triton server
#   ./run.sh --services exporter cleaner    only these services
#   ./run.sh stop            stop every service
#   ./run.sh status          which services run
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
PY="$ROOT/.venvs/library/bin/python"

case "${1:-}" in
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  stop|status)
    if [ ! -x "$PY" ]; then echo "the suite is not built, so not running"; exit 0; fi
    exec "$PY" -m deepclean.suite "$1" ;;
esac

./build.sh
if [ -z "${DEEPCLEAN_PROFILE+x}" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  export DEEPCLEAN_PROFILE=cpu
fi
exec "$PY" -m deepclean.suite start "$@"
