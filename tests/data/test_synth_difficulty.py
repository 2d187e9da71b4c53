"""The synthetic world is hard in the way real chest X-rays are: not linear in the pixels, yet learnable.

On a small in-memory copy of the world (CheXpert profile, the 5 competition labels as drawn): a logistic
regression on 16×16-pooled pixels stays at or below 0.70 macro AUC, and a ResNet-18 trained from scratch on the
same training images reaches 0.85. ``benchmarks/synthetic_world.py`` measures the same on the demo size.
"""

from __future__ import annotations

import pytest

from ecamp_bench.data.synth import difficulty

pytestmark = pytest.mark.slow

# measured (docs/synthetic.md): pixels 0.632, ResNet-18 0.892 after 16 epochs (0.853 after 12, on
# another 500-image test draw), 4.5 CPU-min
N_TRAIN, N_TEST, SIZE, EPOCHS = 1500, 500, 64, 16


@pytest.fixture(scope="module")
def world():
    return (difficulty.world_arrays(N_TRAIN, SIZE, seed=0), difficulty.world_arrays(N_TEST, SIZE, seed=1))


def test_a_linear_model_on_pooled_pixels_does_not_solve_the_world(world):
    train, test = world
    assert train.labels == ("Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion")
    assert difficulty.pixel_probe_auc(train, test) <= 0.70


def test_a_resnet18_from_scratch_learns_the_world(world):
    train, test = world
    assert difficulty.supervised_cnn_auc(train, test, epochs=EPOCHS) >= 0.85


def test_the_measures_can_fail():
    # a world whose labels are unrelated to the pixels: both classifiers at chance
    import numpy as np

    train, test = difficulty.world_arrays(200, 16, seed=0), difficulty.world_arrays(100, 16, seed=1)
    shuffled = difficulty.Arrays(train.images, np.random.default_rng(0).permutation(train.targets), train.labels)
    assert abs(difficulty.pixel_probe_auc(shuffled, test) - 0.5) < 0.1
