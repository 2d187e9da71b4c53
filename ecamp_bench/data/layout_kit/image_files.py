"""Layout toolkit: image-file checks shared by the layout readers: existence while scanning, decoding queued for
the end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ecamp_bench.data.layout_kit.csv_rows import Problems

if TYPE_CHECKING:
    from ecamp_bench.data.image_check import ImageChecks


def check_image(image: Path, csv_path: Path, line: int, key: str, problems: Problems,
                images: ImageChecks | None) -> bool:
    """Record a problem (naming the CSV row) if ``image`` is missing; else queue it in ``images`` (when validating)
    for the decode or header check of :meth:`ImageChecks.run`."""
    if not image.is_file():
        problems.add(csv_path, f"image file not found: {image}", row=line, key=key, code="missing-image")
        return False
    if images is not None:
        images.add(image, csv_path, line, key)
    return True
