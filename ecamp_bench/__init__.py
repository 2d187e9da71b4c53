"""ecamp-bench: ECAMP pre-training and a pluggable chest X-ray evaluation harness.

Importing this package is cheap on purpose: it imports nothing heavy (no torch). It installs one import
hook that keeps torchvision importable next to a CPU build of torch (see ``_torchvision_compat``).
"""

from ecamp_bench import _torchvision_compat

__version__ = "0.1.0"

_torchvision_compat.install()
