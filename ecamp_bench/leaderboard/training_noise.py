"""Verdicts that training noise can flip are not stated: a cell needs >= 3 training runs (seeds) for one.

Each seed of a run is a whole training (a fine-tuned network, a dense head, a linear head on a seed-drawn label
subset). The paired tests (DeLong, paired bootstrap) resample test images only, so with one training run their
p-value says nothing about how a second training would come out: rerunning a dense cell from a fresh clone moved
its Dice by up to 0.1. A leaderboard cell, a significance mark and a ``compare`` verdict therefore need at least
:data:`MIN_TRAINING_RUNS` seeds, each tested on its own and all agreeing; a cell with fewer is marked
:data:`FEW_RUNS_MARK` and read "one training run, not significant by design".
"""

from __future__ import annotations

MIN_TRAINING_RUNS = 3
FEW_RUNS_MARK = "‡"


def few_runs_note(n_runs: int) -> str | None:
    """``"one training run, not significant by design"`` (or the count, below 3); ``None`` from 3 runs on."""
    if n_runs >= MIN_TRAINING_RUNS:
        return None
    if n_runs == 1:
        return "one training run, not significant by design"
    return f"{n_runs} training runs (< {MIN_TRAINING_RUNS}), not significant by design"


LEGEND = (f"{FEW_RUNS_MARK} fewer than {MIN_TRAINING_RUNS} training runs (seeds): not significant by design. "
          "The paired tests resample test images only, so training noise is not in their p-values; a verdict needs "
          f"{MIN_TRAINING_RUNS} or more seeds, each significant in the same direction.")

__all__ = ["FEW_RUNS_MARK", "LEGEND", "MIN_TRAINING_RUNS", "few_runs_note"]
