"""The synthetic chest X-ray generator (images, findings, reports) that is the embedded default data set.

Public API: :func:`generate`, :func:`ensure_synthetic_default`, :data:`SIZES` (the synthetic sizes: ``tiny``,
``small``, ``medium``, ``demo``, ``gpu-demo``) and :data:`SIZE_PARAMS` (cases per layout of each).
"""

from ecamp_bench.data.synth.generate import (
    GENERATOR_VERSION, LAYOUTS, MARKER, PRESETS, SIZE_PARAMS, SIZES, ensure_synthetic_default, generate, marker_size,
    read_marker, synthetic_size,
)

__all__ = ["GENERATOR_VERSION", "LAYOUTS", "MARKER", "PRESETS", "SIZES", "SIZE_PARAMS", "ensure_synthetic_default",
           "generate", "marker_size", "read_marker", "synthetic_size"]
