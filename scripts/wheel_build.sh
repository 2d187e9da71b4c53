# shellcheck shell=bash
# Build a wheel from source with C++ extensions in a throw-away build environment: sourced by
# scripts/install_openmmlab.sh (mmcv) and by tests/install/test_build_toolchain.py (a tiny torch extension),
# so the CI check and the real build cannot drift apart.
#
# The build environment: mmcv's setup.py imports pkg_resources, which setuptools >= 81 no longer ships, and a
# fresh venv has either a too-new setuptools (3.11) or none at all (3.12). So the build runs with
# WHEEL_BUILD_TOOLS installed by `pip install --no-deps --target` into a temporary folder that is put first on
# PYTHONPATH/PATH; the venv itself is not touched. setuptools < 70.1 needs the `wheel` package for
# `bdist_wheel` (without it: "error: invalid command 'bdist_wheel'"), and torch's cpp_extension uses ninja.
#
# Functions (all print only through wheel_build_log, to stderr):
#   wheel_build_settings_hash      sha256 (12 hex) of everything in the recipe that changes the built wheel
#   wheel_build LABEL PY WORK LOG [pip wheel args...]
#       builds into WORK/dist with `PY -m pip wheel -v --no-deps --no-build-isolation ARGS`, all output to LOG,
#       printing progress from ninja's "[k/N]" lines (compiled files / total, elapsed, estimate) every
#       WHEEL_BUILD_PROGRESS_S seconds (default 60). On failure prints the reason (the log's first "error:"
#       line) and LOG's path, and returns 1. Environment: MAX_JOBS (default 2), WHEEL_BUILD_ENV (an array of
#       extra VAR=value settings for the build, part of the settings hash).

WHEEL_BUILD_TOOLS=("setuptools==69.5.1" "wheel==0.45.1" "ninja==1.13.2")
WHEEL_BUILD_PIP_ARGS=("--no-deps" "--no-build-isolation")
: "${WHEEL_BUILD_PROGRESS_S:=60}"

wheel_build_log() { printf '[%s] %s\n' "${WHEEL_BUILD_LOG_NAME:-wheel_build}" "$*" >&2; }

wheel_build_settings_hash() {
  local compiler
  compiler="$(c++ --version 2>/dev/null | head -n 1 || true)"
  # A CUDA build also depends on the CUDA compiler (a CPU build's key is unchanged by this).
  if [[ " ${WHEEL_BUILD_ENV[*]-} " == *" FORCE_CUDA=1 "* ]]; then
    local nvcc
    nvcc="$( (nvcc --version || "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" --version) 2>/dev/null | tail -n 1)"
    compiler+=" | nvcc $nvcc"
  fi
  printf 'tools=%s\npip=%s\nenv=%s\ncompiler=%s\n' "${WHEEL_BUILD_TOOLS[*]}" "${WHEEL_BUILD_PIP_ARGS[*]}" \
    "${WHEEL_BUILD_ENV[*]-}" "$compiler" | sha256sum | cut -c1-12
}

_wheel_build_fmt_s() { printf '%d min %02d s' $(( $1 / 60 )) $(( $1 % 60 )); }

# The reason a build failed, from its log: the first line that looks like an error, else the last line.
_wheel_build_reason() {
  local log="$1" line
  line="$(grep -m 1 -E '(^|[[:space:]])(error|ERROR|Error)(:| [a-z]+:)|fatal error' "$log" | sed -E 's/^[[:space:]]+//' || true)"
  [[ -n "$line" ]] || line="$(tail -n 1 "$log")"
  printf '%s' "$line"
}

_wheel_build_progress() {
  local log="$1" start="$2" now step done total first est msg
  now=$SECONDS
  step="$(grep -o -E '^[[:space:]]*\[[0-9]+/[0-9]+\]' "$log" 2>/dev/null | tail -n 1 | tr -d ' []' || true)"
  if [[ -z "$step" ]]; then
    msg="preparing (no file compiled yet), $(_wheel_build_fmt_s $(( now - start ))) elapsed"
  else
    done="${step%/*}" total="${step#*/}"
    first="${_WHEEL_BUILD_FIRST_STEP_AT:-$now}"
    msg="compiled $done/$total files, $(_wheel_build_fmt_s $(( now - start ))) elapsed"
    if (( done > 1 && now > first )); then
      est=$(( (now - first) * (total - done) / (done - 1) ))
      msg+=", about $(_wheel_build_fmt_s "$est") left"
    fi
  fi
  wheel_build_log "$msg"
}

wheel_build() {
  local label="$1" py="$2" work="$3" log="$4"
  shift 4
  local start=$SECONDS pid rc=0 last=$SECONDS
  mkdir -p "$work" "$(dirname "$log")"
  : > "$log"
  if ! command -v c++ >/dev/null 2>&1; then
    wheel_build_log "$label: no C++ compiler (c++) on PATH; install one (Debian: apt-get install g++)"
    return 1
  fi
  if ! "$py" -m pip install --disable-pip-version-check --no-deps --target "$work/buildtools" \
      "${WHEEL_BUILD_TOOLS[@]}" >>"$log" 2>&1; then
    wheel_build_log "$label: could not install the build tools ${WHEEL_BUILD_TOOLS[*]}: $(_wheel_build_reason "$log")"
    wheel_build_log "full log: $log"
    return 1
  fi
  (
    export PYTHONPATH="$work/buildtools${PYTHONPATH:+:$PYTHONPATH}"
    export PATH="$work/buildtools/bin:$PATH"
    export MAX_JOBS="${MAX_JOBS:-2}" TMPDIR="$work"
    if [[ -n "${WHEEL_BUILD_ENV[*]-}" ]]; then export "${WHEEL_BUILD_ENV[@]}"; fi
    # --no-cache-dir: never take a wheel that pip cached from an earlier build (another recipe, perhaps);
    # it changes nothing in what is built, so it is not part of the settings hash.
    exec nice -n 10 "$py" -m pip wheel -v --no-cache-dir --disable-pip-version-check "${WHEEL_BUILD_PIP_ARGS[@]}" \
      -w "$work/dist" "$@"
  ) >>"$log" 2>&1 &
  pid=$!
  _WHEEL_BUILD_FIRST_STEP_AT=""
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if [[ -z "$_WHEEL_BUILD_FIRST_STEP_AT" ]] && grep -q -E '^[[:space:]]*\[1/[0-9]+\]' "$log" 2>/dev/null; then
      _WHEEL_BUILD_FIRST_STEP_AT=$SECONDS
    fi
    if (( SECONDS - last >= WHEEL_BUILD_PROGRESS_S )); then
      last=$SECONDS
      _wheel_build_progress "$log" "$start"
    fi
  done
  wait "$pid" || rc=$?
  if (( rc != 0 )); then
    wheel_build_log "$label: build failed after $(_wheel_build_fmt_s $(( SECONDS - start ))): $(_wheel_build_reason "$log")"
    wheel_build_log "full log: $log"
    return 1
  fi
  wheel_build_log "$label: built in $(_wheel_build_fmt_s $(( SECONDS - start )))"
}
