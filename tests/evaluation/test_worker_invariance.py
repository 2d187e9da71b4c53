"""--num-workers does not change fine-tuning: augmentation is seeded per drawn sample, not per worker."""

from __future__ import annotations

import numpy as np
import pytest

from _backbones import export_tiny_backbone

from ecamp_bench.cli import main
from ecamp_bench.evaluation.predictions import load_predictions
from ecamp_bench.paths import results_dir

pytestmark = pytest.mark.slow


def test_finetune_predictions_are_the_same_with_0_and_2_workers(synthetic_tiny):
    path = export_tiny_backbone()
    scores = {}
    for workers in (0, 2):
        args = ["eval", "--task", "rsna-cls", "--protocol", "finetune", "--fraction", "0.5", "--data-root",
                str(synthetic_tiny), "--backbone", f"file:{path}", "--preset", "tiny", "--set", "protocol.steps=6",
                "--set", "protocol.eval_every=3", "--set", "eval.n_bootstrap=0", "--num-workers", str(workers),
                "--force"]
        assert main(args) == 0
        (npz,) = (results_dir() / "runs").rglob("*.predictions.npz")
        scores[workers] = load_predictions(npz).scores
    assert np.array_equal(scores[0], scores[2])


def test_the_augmentation_of_a_sample_depends_on_its_drawn_seed_only():
    import torch

    from ecamp_bench.evaluation.finetune import random_resized_crop

    augment = random_resized_crop(0.3, True)
    x = torch.arange(3 * 16 * 16, dtype=torch.float32).view(3, 16, 16)
    first = augment(x, torch.Generator().manual_seed(5))
    torch.manual_seed(123)  # the global stream (a worker's) plays no part
    assert torch.equal(first, augment(x, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augment(x, torch.Generator().manual_seed(6)))
