"""The public surface for plugin authors. Import from here, not from internal modules.

Example plugin module::

    from ecamp_bench.api import BackboneSpec, hookimpl

    @hookimpl
    def ecamp_bench_backbones():
        return [BackboneSpec(name="my-vit", arch="vit_base_patch16_224", weights="my_vit.safetensors")]

The specs, errors and ``hookimpl`` are imported eagerly (they are cheap). The runtime classes a task or
protocol implementation needs (``Predictions``, ``RunContext``, ``Backbone``, ...) are imported on first
access, so a plugin module that only returns specs never pulls in numpy, torch or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

from ecamp_bench.errors import CheckpointError, ConfigError, DataError, EcampBenchError, PluginError, UnknownNameError
from ecamp_bench.hookspecs import hookimpl
from ecamp_bench.specs import BackboneSpec, LayoutSpec, MetricSpec, Problem, ProtocolSpec, TaskSpec

_LAZY = {
    "Backbone": "ecamp_bench.models.backbone",
    "build_backbone": "ecamp_bench.models.backbone",
    "BackboneMeta": "ecamp_bench.models.checkpoints",
    "save_backbone_file": "ecamp_bench.models.checkpoints",
    "load_backbone_file": "ecamp_bench.models.checkpoints",
    "Predictions": "ecamp_bench.evaluation.context",
    "PreparedTask": "ecamp_bench.evaluation.context",
    "RunContext": "ecamp_bench.evaluation.context",
    "TaskImplementation": "ecamp_bench.evaluation.context",
    "MetricValue": "ecamp_bench.evaluation.metrics",
    "auc_metrics": "ecamp_bench.evaluation.metrics",
    "bootstrap_indices": "ecamp_bench.evaluation.metrics",
    "ResultRecord": "ecamp_bench.results.record",
    "read_record": "ecamp_bench.results.record",
    "resize_mask": "ecamp_bench.data.masks",
    "pack_boxes": "ecamp_bench.evaluation.det_metrics",
    "Sample": "ecamp_bench.data.samples",
    "SampleTable": "ecamp_bench.data.samples",
    "load_image": "ecamp_bench.data.images",
}

__all__ = [
    "BackboneSpec",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "EcampBenchError",
    "LayoutSpec",
    "MetricSpec",
    "PluginError",
    "Problem",
    "ProtocolSpec",
    "TaskSpec",
    "UnknownNameError",
    "hookimpl",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    """Import the runtime names of :data:`_LAZY` on first access."""
    if name not in _LAZY:
        raise AttributeError(f"module 'ecamp_bench.api' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
