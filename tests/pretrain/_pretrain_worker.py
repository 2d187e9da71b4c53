"""Subprocess entry for the DDP and SIGKILL tests: train the tiny setup and save each rank's weights.

usage: _pretrain_worker.py RUN_DIR PAIRS_DIR OUT_PREFIX [--resume] [--sleep SECONDS] [--tokenizer PATH] [--export]

``--export``: export the backbone (into $ECAMP_BENCH_PRETRAINED) with a 40-image probe every 2 steps.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from _pretrain_tiny import tiny_config, tiny_pairs  # noqa: E402

from ecamp_bench.distributed import exit_torchrun_worker, launched_by_torchrun, shutdown_distributed  # noqa: E402
from ecamp_bench.pretrain.loop import run_pretraining  # noqa: E402


def main() -> None:
    run_dir, pairs_dir, out_prefix = sys.argv[1:4]
    resume = "--resume" in sys.argv
    sleep = float(sys.argv[sys.argv.index("--sleep") + 1]) if "--sleep" in sys.argv else 0.0
    torch.set_num_threads(1)
    cfg = tiny_config(export="--export" in sys.argv)
    if "--export" in sys.argv:
        cfg.probe.every, cfg.probe.images = 2, 40
    if "--tokenizer" in sys.argv:  # WordPiece training is not reproducible across processes: share one
        cfg.text.tokenizer = Path(sys.argv[sys.argv.index("--tokenizer") + 1])
    result, trainer = run_pretraining(cfg, Path(run_dir), resume=resume, pairs=tiny_pairs(Path(pairs_dir)),
                                      on_step=lambda info: time.sleep(sleep))
    torch.save(trainer.model.state_dict(), f"{out_prefix}-rank{trainer.info.rank}.pt")
    shutdown_distributed()
    if launched_by_torchrun():
        exit_torchrun_worker(0)  # as the CLI does: gloo may abort during interpreter teardown


if __name__ == "__main__":
    main()
