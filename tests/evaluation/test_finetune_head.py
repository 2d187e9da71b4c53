"""The fine-tuning head's optional feature BatchNorm: what it fixes, on features shaped like the demo's
(a large common mean, a spread of 0.1 per dimension that carries the label)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from ecamp_bench.evaluation.finetune import Classifier


class FeaturesAsImages(nn.Module):
    """Stands in for a backbone whose "images" already are its pooled features ``[B, D]``."""

    num_features = 16

    def forward_global(self, x: torch.Tensor) -> torch.Tensor:
        return x


COMMON_MEAN = 3.0 * torch.tensor([0.0, 0.0] + [(-1.0) ** i for i in range(FeaturesAsImages.num_features - 2)])


def demo_like_features(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """``mean × b + 0.1 z``: ``|mean|^2 = 126``, ``z`` standard normal, ``b = 1 + 0.03 N(0, 1)`` a label-free
    per-image factor (brightness); the label (prevalence 0.28) is ``z_0 + z_1 + noise > 1``.

    A plain head fits the prevalence mostly along the common mean (its gradient there is ``|mean|`` times the
    bias's), so its scores rank images by ``b``: the demo's real features at chance, in miniature.
    """
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, FeaturesAsImages.num_features, generator=g)
    label = (z[:, 0] + z[:, 1] + 0.5 * torch.randn(n, generator=g) > 1.0).float()
    brightness = 1.0 + 0.03 * torch.randn(n, 1, generator=g)  # a per-image factor along the mean: label-free
    return COMMON_MEAN * brightness + 0.1 * z, label.numpy()


def test_auc_after_sgd_steps(head_norm: str, steps: int = 60) -> float:
    torch.manual_seed(0)
    model = Classifier(FeaturesAsImages(), 1, head_init_std=2e-5, head_norm=head_norm)  # type: ignore[arg-type]
    optim = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    x, y = demo_like_features(16 * steps, seed=1)
    for step in range(steps):
        batch = slice(16 * step, 16 * (step + 1))
        optim.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(model(x[batch])[:, 0], torch.from_numpy(y[batch])).backward()
        optim.step()
    model.eval()
    x_test, y_test = demo_like_features(1000, seed=2)
    with torch.no_grad():
        return float(roc_auc_score(y_test, model(x_test)[:, 0].numpy()))


test_auc_after_sgd_steps.__test__ = False  # a helper, not a test


def test_feature_batchnorm_lets_a_small_init_head_learn_where_the_plain_head_cannot():
    assert test_auc_after_sgd_steps("batchnorm") > 0.9
    assert test_auc_after_sgd_steps("none") < 0.75


def test_plain_head_keeps_the_published_shape_and_batchnorm_has_no_parameters():
    plain = Classifier(FeaturesAsImages(), 3, head_init_std=2e-5)  # type: ignore[arg-type]
    normed = Classifier(FeaturesAsImages(), 3, head_init_std=2e-5, head_norm="batchnorm")  # type: ignore[arg-type]
    assert plain.norm is None and sorted(dict(plain.named_parameters())) == ["head.bias", "head.weight"]
    assert sorted(dict(normed.named_parameters())) == ["head.bias", "head.weight"]  # affine=False
    assert float(plain.head.weight.std()) == pytest.approx(2e-5, rel=0.5)
