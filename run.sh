#!/usr/bin/env bash
# Run the DeepClean online suite.
#
#   ./run.sh                 build what is missing, start every service of every configured
#                            detector ([tool.typeo.base] detectors) in the tmux session
#                            "deepclean" and attach: the exporter and the status page in the
#                            window "deepclean", each detector's detector, trainer, cleaner and
#                            monitor in a window of its name (panes "trainer-H1", ...)
#   ./run.sh --headless      the same without tmux: logs in run/logs, pid files in run/pids
#   ./run.sh --detach        start in tmux without attaching
#   ./run.sh --detectors H1  only these of the configured detectors
#   ./run.sh --profile ''    full-size settings (default on a machine without a GPU: cpu)
#   ./run.sh --triton        also serve the model repository with a Triton server
#   ./run.sh --services exporter cleaner    only these services (cleaner-L1: one detector's)
#   ./run.sh stop            stop every service
#   ./run.sh status          which services run
# Every detector's status on one page: http://127.0.0.1:9110/ ([tool.typeo.scripts.status])
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
PY="$ROOT/.venvs/library/bin/python"

case "${1:-}" in
  -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
  stop|status)
    if [ ! -x "$PY" ]; then echo "the suite is not built, so not running"; exit 0; fi
    exec "$PY" -m deepclean_tools.suite "$1" ;;
esac

./build.sh
if [ -z "${DEEPCLEAN_PROFILE+x}" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  export DEEPCLEAN_PROFILE=cpu
fi
exec "$PY" -m deepclean_tools.suite start "$@"
