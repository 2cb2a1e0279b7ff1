#!/usr/bin/env bash
# Build one Python environment per service (venv + pip) in .venvs/<name>.
#
#   ./build.sh                 build every environment whose inputs changed
#   ./build.sh trainer cleaner build only these
#   ./build.sh --force         rebuild even if nothing changed
#   ./build.sh --print-requirements trainer
#                              print the pip arguments of an environment, one per line
#                              (deploy/conda and deploy/apptainer are checked against them)
#
# Each service environment holds the shared library (libs/deepclean) and the
# service (projects/<service>), both editable, with their test extras. The
# "library" environment holds the library with every extra and the tools
# (tools/: the suite launcher and the synthetic detector service) and runs the
# library's, the tools' and the cross-service tests. An environment is skipped
# when the hash of its inputs (package metadata, requirements, the Python
# version) is the one it was built from. Building or checking the monitor also
# installs Chromium (Debian package, as root) for the monitor's status-page
# browser test.
#
# Environment variables:
#   PYTHON           interpreter to build the venvs from (default: python3)
#   TORCH_VERSION    torch release for services that use torch (default 2.13.0,
#                    the CPU wheel these machines carry); on a GPU node set it
#                    and, if needed, TORCH_INDEX_URL to take a CUDA build.
#   WITH_TENSORRT=1  also install TensorRT into the exporter (GPU nodes only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENVS="$ROOT/.venvs"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
LIB="$ROOT/libs/deepclean"
TOOLS="$ROOT/tools"
FORCE=0
PRINT=0
REQUESTED=()
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    --print-requirements) PRINT=1 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) REQUESTED+=("$arg") ;;
  esac
done

all_envs() {
  local dir
  for dir in "$ROOT"/projects/*/; do
    [ -f "$dir/pyproject.toml" ] && basename "$dir"
  done
  echo library
  for dir in "$ROOT"/servers/*/; do
    [ -f "$dir/requirements.txt" ] && echo "$(basename "$dir")-server"
  done
  return 0
}

# The pip arguments that make up environment $1.
requirements() {
  local name="$1" project="$ROOT/projects/$1"
  case "$name" in
    library)
      echo "torch==$TORCH_VERSION -e $LIB[torch,test] -e $TOOLS onnx>=1.16 onnxruntime>=1.18 libtmux>=0.40 requests>=2.31 ruff==0.16.9" ;;
    *-server)
      echo "-r $ROOT/servers/${name%-server}/requirements.txt" ;;
    *)
      local extra=""
      grep -q 'torch' "$project/pyproject.toml" && extra="torch==$TORCH_VERSION"
      [ "$name" = exporter ] && [ "${WITH_TENSORRT:-0}" = 1 ] && extra="$extra tensorrt"
      echo "$extra -e $LIB[test] -e $project[test]" ;;
  esac
}

inputs_hash() {
  local name="$1"
  {
    "$PYTHON" --version
    echo "$TORCH_VERSION ${TORCH_INDEX_URL:-} ${WITH_TENSORRT:-0}"
    cat "$LIB/pyproject.toml"
    requirements "$name"
    case "$name" in
      library) cat "$TOOLS/pyproject.toml" ;;
      *-server) cat "$ROOT/servers/${name%-server}/requirements.txt"
                [ -f "$ROOT/servers/${name%-server}/setup.sh" ] && cat "$ROOT/servers/${name%-server}/setup.sh"
                true ;;
      *) cat "$ROOT/projects/$name/pyproject.toml" ;;
    esac
  } | sha256sum | cut -d' ' -f1
}

run_server_setup() {
  local name="$1" venv="$2" setup="$ROOT/servers/${1%-server}/setup.sh"
  if [[ "$name" == *-server ]] && [ -x "$setup" ]; then
    "$setup" "$venv"
  fi
}

# Import what the environment is for, so that a build pip left incomplete fails here rather
# than as a test's ImportError.
check_env() {
  local name="$1" venv="$2" modules=()
  case "$name" in
    library) modules=(deepclean deepclean_tools torch onnxruntime pytest) ;;
    *-server) return 0 ;;
    *) modules=(deepclean "deepclean_$name" pytest)
       grep -q 'torch' "$ROOT/projects/$name/pyproject.toml" && modules+=(torch) ;;
  esac
  local module
  for module in "${modules[@]}"; do
    "$venv/bin/python" -c "import $module" || { echo "check: cannot import $module in $venv"; return 1; }
  done
}

# pip leaves a half-written environment when the disk fills; say so before starting.
warn_low_disk() {
  local free_kib
  free_kib="$(df -Pk "$VENVS" | awk 'NR == 2 {print $4}')"
  if [ -n "$free_kib" ] && [ "$free_kib" -lt $((8 * 1024 * 1024)) ]; then
    echo "[build] warning: only $((free_kib / 1024)) MiB free on the disk of $VENVS;" \
      "the environments need about 8 GiB" >&2
  fi
}

build_env() {
  # One build of an environment at a time (concurrent ./build.sh calls wait here).
  exec 9>"$VENVS/.$1.lock"
  flock 9
  local name="$1" venv="$VENVS/$1" log="$VENVS/$1.log" hash
  hash="$(inputs_hash "$name")"
  if [ "$FORCE" = 0 ] && [ -f "$venv/.build-hash" ] && [ "$(cat "$venv/.build-hash")" = "$hash" ]; then
    echo "[build] $name: up to date"
    return 0
  fi
  echo "[build] $name: building (log: ${log#"$ROOT"/})"
  rm -rf "$venv"
  local start=$SECONDS
  # Every step is chained with &&: `set -e` does not apply inside a list tested by ||, and a
  # pip that fails (a full disk, say) must not leave a half-installed environment marked built.
  {
    "$PYTHON" -m venv "$venv" &&
      "$venv/bin/pip" install --quiet --upgrade pip &&
      # shellcheck disable=SC2046
      "$venv/bin/pip" install --quiet ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"} $(requirements "$name") &&
      run_server_setup "$name" "$venv" &&
      check_env "$name" "$venv"
  } >"$log" 2>&1 || {
    echo "[build] $name: FAILED after $((SECONDS - start)) s; last lines of $log:" >&2
    tail -n 25 "$log" >&2
    return 1
  }
  echo "$hash" >"$venv/.build-hash"
  echo "[build] $name: built in $((SECONDS - start)) s"
}

# The monitor's status-page test drives a headless Chromium: install the Debian package when
# root can, else say how (the test fails without it).
ensure_chromium() {
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[build] monitor: installing chromium (apt-get) for the status-page browser test"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$VENVS/chromium.log" 2>&1 \
      && return 0
    echo "[build] monitor: installing chromium failed (log: ${VENVS#"$ROOT"/}/chromium.log)" >&2
  fi
  echo "[build] monitor: chromium is missing and the status-page browser test will fail;" \
    "install it with: sudo apt-get install -y chromium" >&2
}

if [ "$PRINT" = 1 ]; then
  for name in "${REQUESTED[@]}"; do
    # shellcheck disable=SC2046
    printf '%s\n' $(requirements "$name")
  done
  exit 0
fi

mkdir -p "$VENVS"
if [ ${#REQUESTED[@]} -eq 0 ]; then
  mapfile -t REQUESTED < <(all_envs)
fi
[[ " ${REQUESTED[*]} " == *" monitor "* ]] && ensure_chromium
warn_low_disk

# Two builds at a time (pip is mostly I/O and unpacking on these 2-core machines).
failed=0
pids=()
for name in "${REQUESTED[@]}"; do
  build_env "$name" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
exit $failed
