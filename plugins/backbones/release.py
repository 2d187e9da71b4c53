"""What the release-file backbone plugins (:mod:`.published`, ViT-B/16; :mod:`.resnet50`) share: the normalisation
constants of their methods, BenchX's citation and one constructor of a release file's :class:`BackboneSpec`.

Not a plugin itself (it registers nothing); ``ecamp_bench_plugins.backbones.published`` and ``.resnet50`` are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ecamp_bench.api import BackboneSpec

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)
BENCHX = "BenchX, NeurIPS 2024 D&B, arXiv 2410.21969 (yangzhou12/BenchX)"


def release_spec(arch: str, adapter: str, name: str, weights: str, mean: Sequence[float], std: Sequence[float],
                 citation: str, description: str, *, input_size: int = 224, global_pool: str = "avg",
                 model_kwargs: Mapping[str, Any] | None = None) -> BackboneSpec:
    """The spec of backbone ``name``: timm ``arch`` loaded from the release file ``weights`` (a name under
    ``pretrained/``) through the importer ``adapter`` (``"module:function"``); ``mean``/``std`` per RGB channel,
    ``input_size`` in pixels, ``global_pool`` ``"avg"`` or ``"token"``, ``model_kwargs`` passed to timm."""
    return BackboneSpec(
        name=name, arch=arch, weights=weights, adapt_state_dict=adapter, mean=tuple(mean), std=tuple(std),
        input_size=input_size, global_pool=global_pool, model_kwargs=dict(model_kwargs or {}), citation=citation,
        description=description,
    )
