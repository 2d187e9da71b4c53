#!/usr/bin/env bash
# One GPU check: every task's smallest cell on --device cuda, the GPU tests and the pre-training throughput,
# from a fresh clone on a machine with one NVIDIA GPU and a Python that already has a CUDA torch.
#
# Usage: benchmarks/gpu_check.sh [--wheels DIR]          run the check (offline)
#        benchmarks/gpu_check.sh --fetch-wheels DIR      on a machine WITH network (PYTHON with torch): download
#                                                        what a bare CUDA image lacks (Python 3.12 wheels, mmcv's
#                                                        source, about 10 MB), to carry to the GPU machine
#
# - Uses the Python it is given (PYTHON, default python3) and the torch that is in it: ecamp-bench is installed
#   with `pip install --no-deps --no-build-isolation -e .`, nothing is downloaded. It stops at once, with the
#   reason, when that torch does not see a GPU.
# - Missing packages are named. Those in --wheels DIR (default: .gpu-wheels/ in the clone, when it exists) are
#   installed from there (--no-index). Without mmcv/mmdet/mmseg the OpenMMLab cells are skipped with a message;
#   with mmcv's source and nvcc, mmcv is built with CUDA ops for the visible GPU first (its time is printed).
# - Writes everything under $GPU_CHECK_OUT (default ./gpu-check-<date>): data, results, logs; prints each
#   block's wall time and figures, then a summary. Exit status 1 when a block failed.
# Environment: PYTHON, GPU_CHECK_OUT, MAX_JOBS (mmcv build jobs; default: all cores).
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
WHEELS=""
case "${1:-}" in
  ""|--wheels|--fetch-wheels) ;;
  -h|--help) sed -n '2,/^set -uo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "gpu_check: unknown argument '$1' (see benchmarks/gpu_check.sh --help)" >&2; exit 2 ;;
esac
if [[ "${1:-}" == "--fetch-wheels" ]]; then
  DIR="${2:?--fetch-wheels needs a folder}"
  mkdir -p "$DIR"
  pin() { grep -i -m 1 "^$1==" "$REPO/constraints.txt" || echo "$1"; }
  PKGS=()
  for name in pydicom submitit mmengine mmdet mmsegmentation addict termcolor yapf platformdirs pycocotools shapely \
              terminaltables prettytable wcwidth ftfy; do PKGS+=("$(pin "$name")"); done
  set -e
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    -d "$DIR" "${PKGS[@]}" "setuptools==69.5.1" "wheel==0.45.1" "ninja==1.13.2"
  # mmcv's source: pip prepares its metadata by running its setup.py, which imports torch and pkg_resources,
  # so this runs with a Python that has torch ($PYTHON) and setuptools < 81 on PYTHONPATH (as wheel_build.sh does).
  TOOLS="$(mktemp -d)"
  "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --target "$TOOLS" "setuptools==69.5.1" "wheel==0.45.1"
  PYTHONPATH="$TOOLS" "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary=:all: \
    --no-build-isolation -d "$DIR" "$(pin mmcv)"
  rm -rf "$TOOLS"
  echo "gpu_check: $(ls "$DIR" | wc -l) files, $(du -sh "$DIR" | cut -f1) in $DIR"
  echo "  carry it to the GPU machine and run: benchmarks/gpu_check.sh --wheels $DIR"
  exit 0
fi
if [[ "${1:-}" == "--wheels" ]]; then WHEELS="${2:?--wheels needs a folder}"; fi
if [[ -z "$WHEELS" && -d "$REPO/.gpu-wheels" ]]; then WHEELS="$REPO/.gpu-wheels"; fi
if [[ -n "$WHEELS" ]]; then WHEELS="$(cd "$WHEELS" && pwd)"; fi

OUT="${GPU_CHECK_OUT:-$REPO/gpu-check-$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT/logs"
export ECAMP_BENCH_RESULTS="$OUT/results" ECAMP_BENCH_PRETRAINED="$OUT/pretrained" ECAMP_BENCH_CACHE="$OUT/cache"
export ECAMP_BENCH_DATA="$OUT/data" ECAMP_BENCH_SYNTHETIC=tiny ECAMP_BENCH_PROGRESS_INTERVAL=15 PYTHONUNBUFFERED=1
EB=("$PY" -m ecamp_bench.cli)
SUMMARY=()
FAILED=0
say() { printf '[gpu_check] %s\n' "$*"; }

# run_block NAME COMMAND...: run, log to $OUT/logs/NAME.log (and the screen), time it, record the outcome.
run_block() {
  local name="$1" start=$SECONDS rc
  shift
  say "=== $name: $*"
  "$@" 2>&1 | tee "$OUT/logs/$name.log"
  rc=${PIPESTATUS[0]}
  local took=$(( SECONDS - start ))
  if (( rc == 0 )); then
    SUMMARY+=("ok      ${took}s  $name")
  else
    SUMMARY+=("FAILED  ${took}s  $name (rc $rc, log $OUT/logs/$name.log)")
    FAILED=1
  fi
  return $rc
}

# --- 1. torch and the GPU: fail loudly without CUDA --------------------------------------------------------
if ! "$PY" - <<'EOF'
import sys
try:
    import torch
except ImportError as exc:
    sys.exit(f"[gpu_check] FATAL: torch does not import ({exc}); this check uses the torch already installed")
if not torch.cuda.is_available():
    sys.exit(f"[gpu_check] FATAL: CUDA is not available to torch {torch.__version__} "
             f"(built with CUDA {torch.version.cuda}); this check needs a GPU")
p = torch.cuda.get_device_properties(0)
print(f"[gpu_check] torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"{torch.cuda.device_count()} GPU(s): {p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability "
      f"{p.major}.{p.minor}, {p.multi_processor_count} SMs")
EOF
then exit 1; fi
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/[gpu_check] nvidia-smi: /'
fi

# --- 2. ecamp-bench on the installed torch; name what is missing -------------------------------------------
cd "$REPO" || exit 1
if ! "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-index -e . \
    > "$OUT/logs/install.log" 2>&1; then
  say "FATAL: pip install --no-deps -e . failed: $(grep -m 1 -i error "$OUT/logs/install.log")"; exit 1
fi
missing() {  # the import names among "$@" that do not import
  "$PY" -c 'import importlib, sys
for m in sys.argv[1:]:
    try: importlib.import_module(m)
    except Exception: print(m)' "$@"
}
offline_install() {  # install pip names from $WHEELS only, without touching anything else
  [[ -n "$WHEELS" ]] || return 1
  "$PY" -m pip install --quiet --disable-pip-version-check --no-index --find-links "$WHEELS" --no-deps "$@" \
    >> "$OUT/logs/install.log" 2>&1
}
CORE=(timm transformers tokenizers safetensors numpy pandas PIL pydicom sklearn scipy matplotlib pluggy typer rich
      yaml tensorboard threadpoolctl submitit pytest)
mapfile -t LACK < <(missing "${CORE[@]}")
if (( ${#LACK[@]} )); then
  say "missing Python packages: ${LACK[*]}"
  mapfile -t PIP_NAMES < <(printf '%s\n' "${LACK[@]}" | sed 's/^PIL$/pillow/; s/^sklearn$/scikit-learn/; s/^yaml$/pyyaml/')
  if offline_install "${PIP_NAMES[@]}"; then
    say "installed from $WHEELS: ${LACK[*]}"
  else
    say "FATAL: install them (no network here: benchmarks/gpu_check.sh --fetch-wheels DIR elsewhere, carry DIR,"
    say "       run with --wheels DIR); pydicom is needed for the synthetic RSNA/SIIM DICOMs"; exit 1
  fi
fi
"$PY" -c 'import ecamp_bench, ecamp_bench_plugins
print("[gpu_check] ecamp-bench", ecamp_bench.__version__, "from", ecamp_bench.__file__)'

# --- 3. the OpenMMLab stack (mmcv with CUDA ops) ------------------------------------------------------------
MM=0
mm_cuda_ok() { "$PY" -c 'import ecamp_bench, torch, mmdet, mmseg
from mmcv.ops import nms
b = torch.tensor([[0., 0, 10, 10], [1, 1, 11, 11]], device="cuda")
nms(b, torch.tensor([0.9, 0.8], device="cuda"), 0.5)' >> "$OUT/logs/install.log" 2>&1; }
if mm_cuda_ok; then
  MM=1; say "OpenMMLab stack present, mmcv has CUDA ops"
elif [[ -n "$WHEELS" ]] && ls "$WHEELS"/mmcv-*.tar.gz >/dev/null 2>&1; then
  say "building mmcv with CUDA ops from $WHEELS (MAX_JOBS=${MAX_JOBS:-$(nproc)}; progress every 60 s)"
  if run_block mmcv-build env PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELS" ECAMP_BENCH_CONSTRAINTS= \
       MAX_JOBS="${MAX_JOBS:-$(nproc)}" ECAMP_BENCH_WHEEL_DIR="$OUT/wheels" \
       scripts/install_openmmlab.sh "$(command -v "$PY")" \
     && mm_cuda_ok; then MM=1; fi
else
  say "SKIPPING the OpenMMLab cells (siim-seg, rsna-seg, rsna-det): mmcv/mmdet/mmseg with CUDA ops are not"
  say "  installed and no mmcv source was given (--wheels DIR from --fetch-wheels); see $OUT/logs/install.log"
  SUMMARY+=("skipped      OpenMMLab cells (no mmcv with CUDA ops)")
fi

# --- 4. pre-training on the GPU through the CLI: a cpu-small backbone (and the CLI's samples/s) --------------
# (the tiny set has ~30 image-report pairs: batch 8; the figure to read is that it runs, and its samples/s line)
run_block pretrain-cli "${EB[@]}" pretrain --config cpu-small --device cuda --set run.max_steps=60 \
  --set optim.batch_size=8 --set data.num_workers=4
BACKBONES="random-init"
if ls "$ECAMP_BENCH_PRETRAINED"/*.safetensors >/dev/null 2>&1; then
  BACKBONES="file:$ECAMP_BENCH_PRETRAINED/*.safetensors"
fi

# --- 5. every task's smallest cell on --device cuda (tiny protocol preset, synthetic tiny set) ---------------
SWEEP=(sweep --device cuda --fractions 0.01 --seeds 0 --preset tiny --backbones "$BACKBONES")
CLS=chexpert-cls,rsna-cls,nih-cxr14-cls,covidx-cls
run_block cells-linear "${EB[@]}" "${SWEEP[@]}" --tasks "$CLS" --protocol linear
run_block cells-finetune "${EB[@]}" "${SWEEP[@]}" --tasks "$CLS" --protocol finetune
if (( MM )); then
  run_block cells-frozen-seg "${EB[@]}" "${SWEEP[@]}" --tasks siim-seg,rsna-seg --protocol frozen-seg
  run_block cells-finetune-seg "${EB[@]}" "${SWEEP[@]}" --tasks siim-seg --protocol finetune-seg
  run_block cells-frozen-det "${EB[@]}" "${SWEEP[@]}" --tasks rsna-det --protocol frozen-det
  run_block cells-det "${EB[@]}" "${SWEEP[@]}" --tasks rsna-det --protocol det
fi
run_block records "$PY" - <<'EOF'
import json, os, pathlib
rows = [json.loads(p.read_text()) for p in pathlib.Path(os.environ["ECAMP_BENCH_RESULTS"], "runs").rglob("*.json")]
for r in sorted(rows, key=lambda r: (r["task"]["name"], r["protocol"]["name"])):
    m = r["metrics"][0] if r["metrics"] else {"name": "-", "value": None}
    print(f"{r['task']['name']:14} {r['protocol']['name']:13} {r['status']:6} device={r['env']['device']:6} "
          f"gpu={r['env'].get('gpu')} {m['name']}={m['value']} wall={r['timing']['wall_time_s']}s")
bad = [r for r in rows if r["status"] != "ok" or not r["env"]["device"].startswith("cuda")]
raise SystemExit(1 if bad or not rows else 0)
EOF

# --- 6. the GPU tests ----------------------------------------------------------------------------------------
run_block gpu-tests "$PY" -m pytest -q -m gpu tests/gpu -p no:cacheprovider

# --- 7. pre-training throughput (benchmarks/pretrain_throughput.py; its options may change: keep this block) -
# ======================================= pretrain_throughput BLOCK ==========================================
run_block throughput-paper-bf16 "$PY" benchmarks/pretrain_throughput.py --config paper --device cuda \
  --batch-size 64 --steps 5 --warmup 2 --amp bf16
# ===================================== end of pretrain_throughput BLOCK ======================================

say "=== summary (wall-clock seconds; logs in $OUT/logs)"
printf '  %s\n' "${SUMMARY[@]}"
exit $FAILED
