#!/usr/bin/env bash
# Install the OpenMMLab stack (mmcv 2.1.0 with compiled ops, mmdet 3.3.0, mmsegmentation 1.2.2)
# into an existing ecamp-bench virtual environment, next to the torch that is already there. With a CPU torch
# mmcv gets CPU ops; with a CUDA torch also CUDA ops for the visible GPUs (scripts/select_torch.py --mmcv-env:
# FORCE_CUDA=1, TORCH_CUDA_ARCH_LIST; needs nvcc; MMCV_CUDA=0 keeps CPU ops only).
#
# Usage: scripts/install_openmmlab.sh [VENV_PYTHON]               (default: .venv/bin/python)
#        scripts/install_openmmlab.sh --cache-dir [VENV_PYTHON]   prints the folder of this recipe's mmcv wheel
#
# - Idempotent: exits at once when `import mmcv.ops, mmdet, mmseg` already works.
# - mmcv has no binary wheel for this platform, so it is built from its sdist once (35 CPU-minutes:
#   ~20 min on 2 idle cores, 28-48 min measured on 2 busy shared cores), with progress every minute, and the
#   wheel is kept in $ECAMP_BENCH_WHEEL_DIR (default ~/.cache/ecamp-bench/wheels) under a folder named after
#   the recipe: mmcv-<version>/torch-<torch version>-<python tag>-<hash of the build settings>, so a changed
#   torch (its version names the CUDA variant: 2.13.0+cu128), Python or build recipe (CUDA ops, GPU
#   architectures, nvcc's version) builds again. The build log stays next to it (build.log).
# - The build itself (throw-away setuptools/wheel/ninja, progress, error reporting) is scripts/wheel_build.sh,
#   shared with the CI check tests/install/test_build_toolchain.py.
# - Nothing is allowed to replace torch: mmcv/mmdet/mmseg are installed with --no-deps and their runtime
#   dependencies explicitly, all under constraints.txt; torch's version is checked before and after.
# Environment: MAX_JOBS (default 2) compile jobs; ECAMP_BENCH_WHEEL_DIR wheel cache folder; MMCV_CUDA=0,
# TORCH_CUDA_ARCH_LIST, ECAMP_BENCH_GPU_PROBE (a faked GPU probe, for tests) as scripts/select_torch.py reads them.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRINT_CACHE_DIR=0
if [[ "${1:-}" == "--cache-dir" ]]; then PRINT_CACHE_DIR=1; shift; fi
PY="${1:-$REPO_ROOT/.venv/bin/python}"
# ECAMP_BENCH_CONSTRAINTS: the pins for the runtime dependencies (default constraints.txt, the CPU build machine's;
# empty = none, for a venv whose packages are someone else's, e.g. a GPU image: benchmarks/gpu_check.sh).
CONSTRAINTS="${ECAMP_BENCH_CONSTRAINTS-$REPO_ROOT/constraints.txt}"
CONSTRAINT_ARGS=()
if [[ -n "$CONSTRAINTS" ]]; then CONSTRAINT_ARGS=(-c "$CONSTRAINTS"); fi
WHEEL_ROOT="${ECAMP_BENCH_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecamp-bench/wheels}"
# shellcheck source=scripts/wheel_build.sh
source "$REPO_ROOT/scripts/wheel_build.sh"
WHEEL_BUILD_LOG_NAME="install_openmmlab"

MMCV_VERSION="2.1.0"
MMDET_VERSION="3.3.0"
MMSEG_VERSION="1.2.2"
MMENGINE_VERSION="0.10.7"
# Runtime dependencies of mmengine/mmcv/mmdet/mmseg that ecamp-bench itself does not need (versions in
# constraints.txt). OpenCV is the headless build: mmengine asks for opencv-python, which needs a display stack.
RUNTIME_DEPS=(addict termcolor yapf opencv-python-headless pycocotools shapely terminaltables six prettytable wcwidth ftfy)

PROBE="import ecamp_bench, mmcv, mmcv.ops, mmdet, mmseg"

log() { wheel_build_log "$@"; }
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check "${CONSTRAINT_ARGS[@]}" "$@"; }

if [[ ! -x "$PY" ]]; then
  log "no python at $PY (create the venv first: make install)"
  exit 2
fi
if ! TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null)"; then
  log "torch is not importable with $PY: install the CPU build first (make install does)"
  exit 1
fi
# mmcv's own build switches (part of the cache key, wheel_build_settings_hash): compile the ops; with a CPU torch
# CPU kernels only (FORCE_CUDA=0, as always), with a CUDA torch also the CUDA kernels (FORCE_CUDA=1) for the
# visible GPUs' compute capabilities (TORCH_CUDA_ARCH_LIST); scripts/select_torch.py --mmcv-env decides.
if ! MMCV_ENV="$("$PY" "$REPO_ROOT/scripts/select_torch.py" --mmcv-env --python "$PY")"; then
  exit 1
fi
mapfile -t WHEEL_BUILD_ENV <<<"$MMCV_ENV"
MMCV_OPS="CPU ops"
if [[ " ${WHEEL_BUILD_ENV[*]} " == *" FORCE_CUDA=1 "* ]]; then MMCV_OPS="CPU and CUDA ops (${WHEEL_BUILD_ENV[2]})"; fi
PY_TAG="$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
WHEEL_DIR="$WHEEL_ROOT/mmcv-$MMCV_VERSION/torch-$TORCH_VERSION-$PY_TAG-$(wheel_build_settings_hash)"
if (( PRINT_CACHE_DIR )); then
  echo "$WHEEL_DIR"
  exit 0
fi

if "$PY" -c "$PROBE" >/dev/null 2>&1; then
  log "OpenMMLab stack already importable with $PY; nothing to do"
  exit 0
fi


# Global (not local to a function) so that the EXIT trap can still read it after any return.
BUILD_WORK=""
remove_build_work() { if [[ -n "$BUILD_WORK" ]]; then rm -rf "$BUILD_WORK"; fi; }
trap remove_build_work EXIT

build_mmcv_wheel() {
  if [[ "$MMCV_OPS" != "CPU ops" ]] && ! command -v nvcc >/dev/null 2>&1 \
      && [[ ! -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]]; then
    log "torch is a CUDA build but there is no CUDA compiler (nvcc on PATH or \$CUDA_HOME/bin/nvcc) to build mmcv's"
    log "CUDA ops: install the CUDA toolkit matching torch.version.cuda, or MMCV_CUDA=0 for CPU ops only"
    exit 1
  fi
  BUILD_WORK="$(mktemp -d "${TMPDIR:-/tmp}/ecamp-mmcv-build.XXXXXX")"
  log "no cached mmcv wheel in $WHEEL_DIR"
  log "building mmcv $MMCV_VERSION with $MMCV_OPS against torch $TORCH_VERSION"
  log "(CPU ops: 35 CPU-minutes, 20-50 min on 2 cores; CUDA ops add more);"
  log "progress every ${WHEEL_BUILD_PROGRESS_S} s, build log: $WHEEL_DIR/build.log"
  mkdir -p "$WHEEL_DIR"
  if ! wheel_build "mmcv $MMCV_VERSION" "$PY" "$BUILD_WORK" "$WHEEL_DIR/build.log" --no-binary mmcv "mmcv==$MMCV_VERSION"; then
    exit 1
  fi
  local built
  built="$(ls "$BUILD_WORK"/dist/mmcv-"$MMCV_VERSION"-*.whl)"
  cp "$built" "$WHEEL_DIR/.partial.whl"
  mv "$WHEEL_DIR/.partial.whl" "$WHEEL_DIR/$(basename "$built")"
  remove_build_work
  BUILD_WORK=""
  log "mmcv wheel cached: $WHEEL_DIR/$(basename "$built")"
}

shopt -s nullglob
cached=("$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl)
if (( ${#cached[@]} == 0 )); then
  build_mmcv_wheel
  cached=("$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl)
else
  log "using cached wheel ${cached[0]}"
fi

log "installing runtime dependencies: ${RUNTIME_DEPS[*]}"
pip_install "${RUNTIME_DEPS[@]}"
log "installing mmengine $MMENGINE_VERSION, mmcv $MMCV_VERSION, mmdet $MMDET_VERSION, mmsegmentation $MMSEG_VERSION (--no-deps)"
pip_install --no-deps "mmengine==$MMENGINE_VERSION" "${cached[0]}" "mmdet==$MMDET_VERSION" "mmsegmentation==$MMSEG_VERSION"

after="$("$PY" -c 'import torch; print(torch.__version__)')"
if [[ "$after" != "$TORCH_VERSION" ]]; then
  log "torch changed from $TORCH_VERSION to $after: something pulled another torch"
  exit 1
fi
"$PY" -c "$PROBE"
log "OpenMMLab stack installed: $("$PY" -c 'import ecamp_bench, mmcv, mmdet, mmseg; print("mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__)')"
