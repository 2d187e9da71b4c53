#!/usr/bin/env bash
# Install the OpenMMLab stack (mmcv 2.1.0 with compiled CPU ops, mmdet 3.3.0, mmsegmentation 1.2.2)
# into an existing ecamp-bench virtual environment, next to the torch that is already there.
#
# Usage: scripts/install_openmmlab.sh [VENV_PYTHON]     (default: .venv/bin/python)
#
# - Idempotent: exits at once when `import mmcv.ops, mmdet, mmseg` already works.
# - mmcv has no binary wheel for this platform, so it is built from its sdist once (35 CPU-minutes:
#   ~20 min on 2 idle cores, 48 min measured on 2 busy shared cores) and the wheel is kept in
#   $ECAMP_BENCH_WHEEL_DIR (default ~/.cache/ecamp-bench/wheels), in a subfolder
#   named after the torch version it was compiled against; later installs reuse it.
# - mmcv's setup.py imports pkg_resources, which setuptools >= 81 no longer ships: the build runs with
#   setuptools 69.5.1 and ninja put on PYTHONPATH/PATH from a throw-away --target folder, so the venv's
#   own setuptools is left untouched.
# - Nothing is allowed to replace torch: mmcv/mmdet/mmseg are installed with --no-deps and their runtime
#   dependencies explicitly, all under constraints.txt; torch's version is checked before and after.
# Environment: MAX_JOBS (default 2) compile jobs; ECAMP_BENCH_WHEEL_DIR wheel cache folder.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$REPO_ROOT/.venv/bin/python}"
CONSTRAINTS="$REPO_ROOT/constraints.txt"
WHEEL_ROOT="${ECAMP_BENCH_WHEEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ecamp-bench/wheels}"

MMCV_VERSION="2.1.0"
MMDET_VERSION="3.3.0"
MMSEG_VERSION="1.2.2"
BUILD_TOOLS=("setuptools==69.5.1" "ninja==1.13.2")
MMENGINE_VERSION="0.10.7"
# Runtime dependencies of mmengine/mmcv/mmdet/mmseg that ecamp-bench itself does not need (versions in
# constraints.txt). OpenCV is the headless build: mmengine asks for opencv-python, which needs a display stack.
RUNTIME_DEPS=(addict termcolor yapf opencv-python-headless pycocotools shapely terminaltables six prettytable wcwidth ftfy)

# `import ecamp_bench` first: it makes the CUDA-built torchvision wheel importable next to the CPU torch.
PROBE="import ecamp_bench, mmcv, mmcv.ops, mmdet, mmseg"

log() { printf '[install_openmmlab] %s\n' "$*" >&2; }
pip_install() { "$PY" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" "$@"; }

if [[ ! -x "$PY" ]]; then
  log "no python at $PY (create the venv first: make install)"
  exit 2
fi
# mmseg 1.2.2 bug: on CPU, FocalLoss(use_sigmoid=True) one-hot encodes class-index targets and then keeps a
# single column (`target[:, num_classes]`) instead of the first num_classes columns, so the loss fails with a
# shape error (num_classes > 1) or silently broadcasts [N, 1] against [N] into an [N, N] tensor (num_classes
# == 1, tens of GB at 224 px). The CUDA path is right. This rewrites the two lines in the installed file;
# it is idempotent and fails loudly if the file no longer looks as expected.
patch_mmseg_focal_loss() {
  "$PY" - <<'PYEOF'
import sysconfig
from pathlib import Path

path = Path(sysconfig.get_paths()["purelib"]) / "mmseg" / "models" / "losses" / "focal_loss.py"
text = path.read_text(encoding="utf-8")
buggy = ("                        target = target[:, 1]\n"
         "                    else:\n"
         "                        target = target[:, num_classes]\n")
fixed = ("                        target = target[:, 1:2]  # ecamp-bench patch: keep [N, 1]\n"
         "                    else:\n"
         "                        target = target[:, :num_classes]  # ecamp-bench patch: [N, C]\n")
if fixed not in text:
    if text.count(buggy) != 1:
        raise SystemExit(f"{path}: the CPU focal-loss lines to patch were not found; check the mmseg version")
    path.write_text(text.replace(buggy, fixed), encoding="utf-8")
PYEOF
}

if "$PY" -c "$PROBE" >/dev/null 2>&1; then
  patch_mmseg_focal_loss
  log "OpenMMLab stack already importable with $PY; nothing to do"
  exit 0
fi

TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__)')"
WHEEL_DIR="$WHEEL_ROOT/torch-$TORCH_VERSION"
mkdir -p "$WHEEL_DIR"

build_mmcv_wheel() {
  local work start
  work="$(mktemp -d "${TMPDIR:-/tmp}/ecamp-mmcv-build.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  log "building mmcv $MMCV_VERSION with CPU ops against torch $TORCH_VERSION (slow: 35 CPU-minutes, 20-50 min on 2 cores)"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$work/buildtools" "${BUILD_TOOLS[@]}"
  start=$SECONDS
  (
    export PYTHONPATH="$work/buildtools${PYTHONPATH:+:$PYTHONPATH}"
    export PATH="$work/buildtools/bin:$PATH"
    export MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" TMPDIR="$work"
    nice -n 10 "$PY" -m pip wheel --disable-pip-version-check --no-deps --no-build-isolation \
      --no-binary mmcv -w "$work/dist" "mmcv==$MMCV_VERSION"
  )
  log "mmcv wheel built in $(( (SECONDS - start) / 60 )) min $(( (SECONDS - start) % 60 )) s"
  local built
  built="$(ls "$work"/dist/mmcv-"$MMCV_VERSION"-*.whl)"
  cp "$built" "$WHEEL_DIR/.partial.whl"
  mv "$WHEEL_DIR/.partial.whl" "$WHEEL_DIR/$(basename "$built")"
  rm -rf "$work"
  trap - EXIT
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

patch_mmseg_focal_loss

after="$("$PY" -c 'import torch; print(torch.__version__)')"
if [[ "$after" != "$TORCH_VERSION" ]]; then
  log "torch changed from $TORCH_VERSION to $after: something pulled another torch"
  exit 1
fi
"$PY" -c "$PROBE"
log "OpenMMLab stack installed: $("$PY" -c 'import ecamp_bench, mmcv, mmdet, mmseg; print("mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmseg", mmseg.__version__)')"
