"""The synthetic chest X-ray generator (images, findings, reports) that is the embedded default data set.

Public API: :func:`generate`, :func:`ensure_synthetic_default`, :data:`PRESETS`.
"""

from ecamp_bench.data.synth.generate import GENERATOR_VERSION, LAYOUTS, MARKER, PRESETS, ensure_synthetic_default, generate, read_marker

__all__ = ["GENERATOR_VERSION", "LAYOUTS", "MARKER", "PRESETS", "ensure_synthetic_default", "generate", "read_marker"]
