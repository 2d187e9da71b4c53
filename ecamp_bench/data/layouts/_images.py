"""Image-file checks shared by the JPEG-based layouts (MIMIC-CXR-JPG, CheXpert)."""

from __future__ import annotations

from pathlib import Path

from ecamp_bench.data.layouts._csv import Problems


def check_image(image: Path, csv_path: Path, line: int, key: str, problems: Problems, deep: bool) -> bool:
    """Record a problem (naming the CSV row) if ``image`` is missing or, when ``deep``, not a readable image."""
    if not image.is_file():
        problems.add(csv_path, f"image file not found: {image}", row=line, key=key, code="missing-image")
        return False
    if deep:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(image) as handle:
                handle.verify()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            problems.add(image, f"unreadable image ({exc})", row=line, key=key, code="unreadable-image")
            return False
    return True
