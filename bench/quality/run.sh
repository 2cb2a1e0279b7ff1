#!/usr/bin/env bash
# The quality benchmark in one command (see bench/quality/README.md).
#
#   bench/quality/run.sh                                  full run: 1024 s training, 1024 s test (~20-30 min)
#   bench/quality/run.sh --smoke                          smoke run: 128 s spans, tiny training (1-5 min)
#   bench/quality/run.sh --help                           every option
#
# Builds the environments it uses when they are missing or stale (./build.sh
# library trainer exporter cleaner; NOMAD's own .venvs/bench-nomad through
# setup_nomad.sh) and runs the benchmark under nice, since the CPU is shared.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
case " $* " in
  *" -h "*|*" --help "*) exec "$ROOT/.venvs/library/bin/python" "$ROOT/bench/quality/quality.py" --help ;;
esac
"$ROOT/build.sh" library trainer exporter cleaner
"$ROOT/bench/quality/setup_nomad.sh"
exec nice -n "${NICE:-10}" "$ROOT/.venvs/library/bin/python" "$ROOT/bench/quality/quality.py" "$@"
