# Two commands on a fresh machine:  `make demo` (the main job on the synthetic default) and `make test`.
# Both create the virtual environment .venv and install everything on first use, the OpenMMLab stack included:
# mmcv 2.1.0 is compiled once with its ops (about 20 min on 2 idle cores, with progress), then reused from
# ~/.cache/ecamp-bench/wheels (see docs/openmmlab.md). Python 3.11 (a CPU torch wheel for it is in /opt/wheels).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch is found locally through PIP_FIND_LINKS (never let pip pull the CUDA build).
export PIP_FIND_LINKS ?= /opt/wheels
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install demo test clean-venv

# torch: scripts/select_torch.py keeps a torch the venv already has; otherwise, with no NVIDIA driver, the CPU build
# 2.13.0+cpu from PIP_FIND_LINKS (only a cp311 one is in /opt/wheels; PyPI has CUDA builds only, so where none fits
# pip must fail, not fetch gigabytes of CUDA packages); with a driver, the CUDA build 2.13.0+<variant> from
# PyTorch's wheel index (newest the driver supports; TORCH_CUDA=cu126|cu128|cu130 chooses, TORCH_INDEX_URL a mirror).
# The CPU pins of constraints.txt go with the CPU build; a CUDA or kept torch is left alone (pyproject's range).
TORCH_CUDA ?=
export TORCH_CUDA
$(STAMP): pyproject.toml setup.py constraints.txt Makefile scripts/install_openmmlab.sh scripts/wheel_build.sh scripts/select_torch.py
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/python scripts/select_torch.py --install --python $(BIN)/python || { \
	  echo "make install: no torch for $$($(BIN)/python -V) here (see the line above; PIP_FIND_LINKS=$(PIP_FIND_LINKS));"; \
	  echo "  use a Python that has one (make PYTHON=python3.11) or put a torch-2.13.0+cpu wheel for it into PIP_FIND_LINKS"; \
	  exit 1; }
	@if $(BIN)/python -c 'import sys, torch; sys.exit(torch.__version__ != "2.13.0+cpu")'; then \
	  cp constraints.txt $(VENV)/constraints.txt; \
	else grep -v -E '^(torch|torchvision)==' constraints.txt > $(VENV)/constraints.txt; fi
	$(BIN)/pip install -q -c $(VENV)/constraints.txt -e ".[dev]"
	scripts/install_openmmlab.sh $(BIN)/python
	touch $@

install: $(STAMP)

# The demo picks its plan by the hardware it finds (ecamp_bench/demo.py; `python -m ecamp_bench.demo --dry-run`
# prints it, `DEMO_HARDWARE=cpu make demo` forces the CPU plan):
# - CPU: the synthetic size `demo` (every test set >= 500 images, >= 20 positives per label at 5 %);
#   pre-training cpu-demo (300 steps) and its MAE-only ablation, both probed every 25 steps; under 30 min on 2 cores.
# - GPU (torch.cuda.is_available()): the synthetic size `gpu-demo`, pre-training config gpu-demo (ViT-S/16, 224 px)
#   and the mae-only, no-sr and no-mlm ablations.
# Then the same sweep: every task at 5/20/100 % for random-init and every pre-trained file, with each task's
# default protocol (linear, frozen-seg, frozen-det: ECAMP's dense protocols) and ECAMP's own fine-tuning for
# classification (protocol preset cpu-demo: 100 steps with a BatchNorm before the head;
# plugins/protocols/finetune.py says why). Linear probes are cheap (features cached): 3 seeds. Fine-tuning and dense tasks: seed 0 (520-648 test
# images per cell give each paired test its power; a seed costs a whole training). The report's header names
# the hardware, synthetic size and pre-training config (results/DEMO.json).
DEMO_HARDWARE ?= auto

demo: install
	$(BIN)/python -m ecamp_bench.demo --hardware $(DEMO_HARDWARE)

# The OpenMMLab stack was installed above: its tests must run, so a skip for a missing stack fails (tests/mm).
test: install
	ECAMP_BENCH_REQUIRE_OPENMMLAB=1 $(BIN)/python -m pytest -n 2 -q

clean-venv:
	rm -rf $(VENV)
