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

# torch is asked for as 2.13.0+cpu: where no CPU build exists for this Python (only a cp311 one is in
# /opt/wheels; PyPI has CUDA builds only) pip must fail, not fetch gigabytes of CUDA packages.
TORCH := 2.13.0+cpu
$(STAMP): pyproject.toml setup.py constraints.txt Makefile scripts/install_openmmlab.sh scripts/wheel_build.sh
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q "torch==$(TORCH)" torchvision==0.28.0 2>$(VENV)/torch-install.log || { \
	  echo "make install: no CPU build of torch $(TORCH) for $$($(BIN)/python -V) here (PIP_FIND_LINKS=$(PIP_FIND_LINKS));"; \
	  echo "  pip said: $$(grep -m 1 ERROR $(VENV)/torch-install.log)"; \
	  echo "  use a Python that has one (make PYTHON=python3.11) or put a torch-$(TORCH) wheel for it into PIP_FIND_LINKS"; \
	  exit 1; }
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	scripts/install_openmmlab.sh $(BIN)/python
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/ecamp-bench pretrain --resume
	$(BIN)/ecamp-bench sweep --tasks all --fractions 0.01,0.1,1 --seeds 0,1,2 --preset tiny
	$(BIN)/ecamp-bench leaderboard --format html

# The OpenMMLab stack was installed above: its tests must run, so a skip for a missing stack fails (tests/mm).
test: install
	ECAMP_BENCH_REQUIRE_OPENMMLAB=1 $(BIN)/python -m pytest -n 2 -q

clean-venv:
	rm -rf $(VENV)
