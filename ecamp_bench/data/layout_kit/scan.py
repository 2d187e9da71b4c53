"""Layout toolkit: the two ways every layout runs its one scan of a tree: ``read`` (strict: the first problem raises
:class:`~ecamp_bench.errors.DataError`, images are not decoded) and ``validate`` (collect every problem, then decode
every image the scan queued, see :class:`~ecamp_bench.data.image_check.ImageChecks`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.data.layout_kit.csv_rows import Problems
from ecamp_bench.specs import Problem

if TYPE_CHECKING:  # imported where they are used, so that registering a layout plugin stays cheap
    from ecamp_bench.data.image_check import CheckOptions, ImageChecks
    from ecamp_bench.data.samples import Sample, SampleTable

#: A layout's scan: ``(root, problems, images or None) -> samples``; it queues image checks when given ``images``.
Scan = Callable[[Path, Problems, "ImageChecks | None"], Sequence["Sample"]]


def read_table(name: str, root: Path, scan: Scan) -> SampleTable:
    """The :class:`SampleTable` of layout ``name`` at ``root``; the first problem raises ``DataError``."""
    from ecamp_bench.data.samples import SampleTable

    return SampleTable(name, Path(root), tuple(scan(root, Problems(strict=True), None)))


def validate_tree(root: Path, scan: Scan, options: CheckOptions | None = None) -> list[Problem]:
    """Every problem of the tree at ``root``: the scan's (files, columns, rows) first, then the image decodes'."""
    from ecamp_bench.data.image_check import CheckOptions, ImageChecks

    problems, images = Problems(strict=False), ImageChecks(options or CheckOptions())
    scan(root, problems, images)
    return problems.items + images.run()
