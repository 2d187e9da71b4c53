"""The public surface for plugin authors. Import from here, not from internal modules.

Example plugin module::

    from ecamp_bench.api import BackboneSpec, hookimpl

    @hookimpl
    def ecamp_bench_backbones():
        return [BackboneSpec(name="my-vit", arch="vit_base_patch16_224", weights="my_vit.safetensors")]
"""

from ecamp_bench.errors import CheckpointError, ConfigError, DataError, EcampBenchError, PluginError, UnknownNameError
from ecamp_bench.hookspecs import hookimpl
from ecamp_bench.specs import BackboneSpec, LayoutSpec, MetricSpec, Problem, ProtocolSpec, TaskSpec

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
]
