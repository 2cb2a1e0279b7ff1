#!/usr/bin/env bash
# Run every test suite, each in its own environment (built first if missing).
#
#   ./test.sh                  all suites: lint, library, tools, each service, cross-service
#   ./test.sh cleaner          one suite (lint | library | tools | <service> | integration)
#   ./test.sh -- -k follower   extra arguments go to pytest
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
SUITES=()
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; PYTEST_ARGS=("$@"); break ;;
    *) SUITES+=("$1"); shift ;;
  esac
done
if [ ${#SUITES[@]} -eq 0 ]; then
  SUITES=(lint library tools)
  for dir in projects/*/; do [ -d "$dir/tests" ] && SUITES+=("$(basename "$dir")"); done
  SUITES+=(integration)
fi

ENVS=()
for suite in "${SUITES[@]}"; do
  case "$suite" in
    lint|library|tools|integration) ENVS+=(library) ;;
    *) ENVS+=("$suite") ;;
  esac
done
# the cross-service tests run every service from its own environment
[[ " ${SUITES[*]} " == *" integration "* ]] && ENVS=()
mapfile -t ENVS < <(printf '%s\n' "${ENVS[@]}" | awk 'NF && !seen[$0]++')
./build.sh "${ENVS[@]}" || { echo "test.sh: build failed" >&2; exit 1; }

declare -A RESULT
status=0
total_passed=0
total_failed=0
for suite in "${SUITES[@]}"; do
  if [ "$suite" = lint ]; then
    # one ruff configuration ([tool.ruff] in pyproject.toml) for the whole tree
    echo
    echo "===== lint (ruff check, ruff format --check) ====="
    if "$ROOT/.venvs/library/bin/ruff" check "$ROOT" && "$ROOT/.venvs/library/bin/ruff" format --check "$ROOT"; then
      RESULT[lint]="ok"
    else
      RESULT[lint]="FAILED (fix with: .venvs/library/bin/ruff check --fix . && .venvs/library/bin/ruff format .)"
      status=1
      total_failed=$((total_failed + 1))
    fi
    continue
  fi
  case "$suite" in
    library) env=library; path=libs/deepclean/tests ;;
    tools) env=library; path=tools/tests ;;
    integration) env=library; path=tests ;;
    *) env="$suite"; path="projects/$suite/tests" ;;
  esac
  echo
  echo "===== $suite ($path, .venvs/$env) ====="
  log="$(mktemp)"
  "$ROOT/.venvs/$env/bin/python" -m pytest "$path" -p no:cacheprovider "${PYTEST_ARGS[@]}" 2>&1 | tee "$log"
  code=${PIPESTATUS[0]}
  summary="$(tail -n 1 "$log")"
  passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | cut -d' ' -f1)
  failed=$(grep -oE '[0-9]+ (failed|errors?)' <<<"$summary" | awk '{s += $1} END {print s + 0}')
  total_passed=$((total_passed + ${passed:-0}))
  total_failed=$((total_failed + ${failed:-0}))
  rm -f "$log"
  if [ "$code" = 5 ]; then
    RESULT[$suite]="no tests"
  elif [ "$code" != 0 ]; then
    RESULT[$suite]="FAILED (pytest exit $code)"
    status=1
  else
    RESULT[$suite]="ok"
  fi
done

echo
echo "===== summary ====="
for suite in "${SUITES[@]}"; do printf '%-12s %s\n' "$suite" "${RESULT[$suite]}"; done
[ "$status" != 0 ] && [ "$total_failed" = 0 ] && total_failed=1
echo "$total_passed passed, $total_failed failed"
exit $status
