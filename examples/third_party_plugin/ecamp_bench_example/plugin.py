"""The module named by the ``ecamp_bench`` entry point: specs only, no torch import (``ecamp-bench list`` stays fast).

Code is referenced lazily as ``"module:attr"`` strings (the adapter and the task implementation).
"""

from __future__ import annotations

from ecamp_bench.api import BackboneSpec, MetricSpec, TaskSpec, hookimpl


@hookimpl
def ecamp_bench_backbones() -> list[BackboneSpec]:
    """A ViT-Tiny/16 whose checkpoint stores the encoder under ``encoder.`` next to a ``projector.`` head."""
    return [
        BackboneSpec(
            name="example-vit-tiny",
            arch="vit_tiny_patch16_224",
            weights="example_vit_tiny.pth",  # looked up in pretrained/ unless --weights PATH is given
            adapt_state_dict="ecamp_bench_example.adapt:adapt_state_dict",
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            input_size=224,
            global_pool="token",
            citation="example only",
            description="example baseline: ViT-Tiny/16, checkpoint {'model': {'encoder.*', 'projector.*'}}",
        )
    ]


@hookimpl
def ecamp_bench_tasks() -> list[TaskSpec]:
    """RSNA pneumonia yes/no scored by average precision instead of ROC AUC."""
    return [
        TaskSpec(
            name="example-rsna-ap",
            version=1,
            kind="classification",
            layout="rsna-pneumonia",
            labels=("Pneumonia",),
            metrics=(MetricSpec(name="ap", primary=True, description="average precision (sklearn)"),),
            protocols=("linear",),
            implementation="ecamp_bench_example.task:IMPLEMENTATION",
            description="example task: RSNA pneumonia, average precision",
        )
    ]
