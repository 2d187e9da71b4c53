"""Locate a layout's root: the folder itself, or the official sub-folder below it."""

from __future__ import annotations

from pathlib import Path

from ecamp_bench.errors import DataError
from ecamp_bench.specs import LayoutSpec


def find_layout_root(spec: LayoutSpec, root: Path) -> Path:
    """``root`` if ``spec.detect(root)``, else ``root / spec.subdir`` if that detects, else :class:`DataError`."""
    root = Path(root)
    if spec.detect(root):
        return root
    tried = [str(root)]
    if spec.subdir:
        candidate = root / spec.subdir
        if spec.detect(candidate):
            return candidate
        tried.append(str(candidate))
    raise DataError(f"no {spec.name} dataset found; tried {' and '.join(tried)}", path=root)
