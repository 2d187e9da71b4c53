"""``python -m ecamp_bench.cli`` (and ``torchrun -m ecamp_bench.cli``) runs the ``ecamp-bench`` command line."""

from ecamp_bench.cli import run

run()
