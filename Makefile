# Two commands on a fresh machine:  `make demo` (the main job on the synthetic default) and `make test`.
# Both create the virtual environment .venv and install everything on first use, the OpenMMLab stack included:
# mmcv 2.1.0 is compiled once with its ops (about 20 min on 2 idle cores), then reused from
# ~/.cache/ecamp-bench/wheels (see docs/openmmlab.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build of torch is found locally through PIP_FIND_LINKS (never let pip pull the CUDA build).
export PIP_FIND_LINKS ?= /opt/wheels
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install demo test clean-venv

$(STAMP): pyproject.toml constraints.txt Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0 torchvision==0.28.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	scripts/install_openmmlab.sh $(BIN)/python
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/ecamp-bench pretrain --resume
	$(BIN)/ecamp-bench sweep --tasks all --fractions 0.01,0.1,1 --seeds 0,1,2 --preset tiny
	$(BIN)/ecamp-bench leaderboard --format html

test: install
	$(BIN)/python -m pytest -n 2 -q

clean-venv:
	rm -rf $(VENV)
